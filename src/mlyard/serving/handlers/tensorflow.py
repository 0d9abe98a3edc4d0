"""TensorFlow SavedModels (the ``serving_default`` signature) and Keras model files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlyard.errors import ModelError
from mlyard.serving.handlers.base import Handler, find_savedmodel

__all__ = ["SavedModelHandler", "KerasHandler"]


def _tf() -> Any:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


class SavedModelHandler(Handler):
    kind = "tensorflow_savedmodel"

    def __init__(self, model_dir: Path, signature: str = "serving_default") -> None:
        tf = _tf()
        found = find_savedmodel(model_dir)
        assert found is not None
        path, self.version = found
        try:
            self._model = tf.saved_model.load(str(path))
        except Exception as exc:
            raise ModelError(f"cannot load the SavedModel in {str(path)!r}: {exc}") from exc
        signatures = getattr(self._model, "signatures", {})
        if signature not in signatures:
            raise ModelError(f"the SavedModel in {str(path)!r} has no {signature!r} signature "
                             f"(it has {sorted(signatures)})")
        self._fn = signatures[signature]
        _, kwargs = self._fn.structured_input_signature
        if len(kwargs) != 1:
            raise ModelError(f"the {signature!r} signature takes {len(kwargs)} inputs; mlyard serves "
                             "single-input signatures")
        (self._input_name, self._spec), = kwargs.items()
        self._tf = tf

    def predict(self, batch: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
        try:
            tensor = self._tf.constant(np.asarray(batch), dtype=self._spec.dtype)
            if not self._spec.shape.is_compatible_with(tensor.shape):
                raise ModelError(f"input shape {list(tensor.shape)} does not match the model's "
                                 f"{self._spec.shape.as_list()} (None: any size)")
            out = self._fn(**{self._input_name: tensor})
        except ModelError:
            raise
        except (ValueError, TypeError, self._tf.errors.InvalidArgumentError) as exc:
            raise ModelError(f"the model rejected the input: {exc}") from exc
        arrays = {k: v.numpy() for k, v in out.items()}
        return next(iter(arrays.values())) if len(arrays) == 1 else arrays

    def metadata(self) -> dict[str, Any]:
        shape = [-1 if d is None else d for d in self._spec.shape.as_list()]
        outputs = [{"name": k, "datatype": _dtype(v.dtype),
                    "shape": [-1 if d is None else d for d in v.shape.as_list()]}
                   for k, v in self._fn.structured_outputs.items()]
        return {"name": self.name, "versions": [self.version], "platform": "tensorflow_savedmodel",
                "inputs": [{"name": self._input_name, "datatype": _dtype(self._spec.dtype), "shape": shape}],
                "outputs": outputs}


class KerasHandler(Handler):
    kind = "keras"

    def __init__(self, path: Path) -> None:
        tf = _tf()
        try:
            self._model = tf.keras.models.load_model(str(path), compile=False)
        except Exception as exc:
            raise ModelError(f"cannot load the Keras model {str(path)!r}: {exc}") from exc

    def predict(self, batch: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(self._model(np.asarray(batch, dtype="float32"), training=False))
        except (ValueError, TypeError) as exc:
            raise ModelError(f"the model rejected the input: {exc}") from exc
        except Exception as exc:
            if type(exc).__name__ == "InvalidArgumentError":
                raise ModelError(f"the model rejected the input: {exc}") from exc
            raise


def _dtype(dtype: Any) -> str:
    name = getattr(dtype, "name", str(dtype))
    return {"float32": "FP32", "float64": "FP64", "int32": "INT32", "int64": "INT64", "string": "BYTES",
            "bool": "BOOL", "float16": "FP16", "uint8": "UINT8"}.get(name, name.upper())
