"""Inference code: ``model_fn`` / ``input_fn`` / ``predict_fn`` / ``output_fn`` (or
``transform_fn``) in ``code/inference.py``, with SageMaker's inference toolkit's defaults."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlyard.errors import ModelError
from mlyard.serving import codecs
from mlyard.serving.handlers.base import Handler, load_model_handler

__all__ = ["CustomHandler"]


def _arity(fn: Callable[..., Any]) -> int:
    return len(inspect.signature(fn).parameters)


class CustomHandler(Handler):
    """Runs one request at a time through the user's functions (never batched: input_fn and
    output_fn see one request's body)."""

    kind = "custom"
    batchable = False

    def __init__(self, model_dir: Path, program: Path) -> None:
        self.model_dir = model_dir
        sys.path.insert(0, str(program.parent))
        spec = importlib.util.spec_from_file_location(f"mlyard_inference_{abs(hash(program))}", program)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SystemExit as exc:  # a script that parses its arguments or exits when imported
            raise ModelError(f"importing the inference code {str(program)!r} exited ({exc.code!r}): keep what it "
                             "does when run as a script under `if __name__ == \"__main__\":`") from exc
        except Exception as exc:
            raise ModelError(f"cannot import the inference code {str(program)!r}: {exc!r}") from exc
        self.fns = {n: getattr(module, n) for n in ("model_fn", "input_fn", "predict_fn", "output_fn",
                                                   "transform_fn") if callable(getattr(module, n, None))}
        if "transform_fn" in self.fns and {"input_fn", "predict_fn", "output_fn"} & set(self.fns):
            raise ModelError(f"{program.name} defines transform_fn together with input_fn/predict_fn/output_fn; "
                             "define one or the other")
        self.context = None
        if "model_fn" in self.fns:
            fn = self.fns["model_fn"]
            self.model = fn(str(model_dir)) if _arity(fn) == 1 else fn(str(model_dir), self.context)
        else:
            self.model = load_model_handler(model_dir)

    def _call(self, name: str, *args: Any) -> Any:
        fn = self.fns[name]
        return fn(*args) if _arity(fn) == len(args) else fn(*args, self.context)

    def predict(self, batch: np.ndarray) -> Any:
        if "predict_fn" in self.fns:
            return self._call("predict_fn", batch, self.model)
        if isinstance(self.model, Handler):
            return self.model.predict(batch)
        if hasattr(self.model, "predict"):
            return self.model.predict(batch)
        return self.model(batch)

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        """One request through the user's functions; returns (body, content type)."""
        known = codecs.media_type(content_type)
        data: Any = body.decode(errors="replace") if known in (codecs.JSON, codecs.CSV, codecs.JSONLINES) else body
        if "transform_fn" in self.fns:
            out = self._call("transform_fn", self.model, data, content_type, accept)
            return _as_response(out, accept)
        if "input_fn" in self.fns:
            decoded = self._call("input_fn", data, content_type)
        else:
            decoded = codecs.decode(body, known)
            if known == codecs.JSON:
                decoded = np.asarray(decoded)
        prediction = self.predict(decoded)
        if "output_fn" in self.fns:
            return _as_response(self._call("output_fn", prediction, accept), accept)
        return codecs.encode(prediction, accept)


def _as_response(out: Any, accept: str) -> tuple[bytes, str]:
    if isinstance(out, tuple) and len(out) == 2:
        body, content_type = out
    else:
        body, content_type = out, accept
    if isinstance(body, str):
        body = body.encode()
    return bytes(body), str(content_type)
