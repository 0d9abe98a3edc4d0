"""The handler contract, and how a model directory is matched to a handler."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import numpy as np

from mlyard.errors import ModelError

__all__ = ["Handler", "load_handler", "find_savedmodel"]


class Handler(abc.ABC):
    """Loads one model and runs it.

    ``predict`` takes a batch (an array whose first axis is the rows) and returns the outputs for
    those rows: an array, or a dict of arrays for several named outputs. ``batchable`` handlers
    may be given many requests' rows at once (adaptive batching). Input a model cannot use (a
    wrong shape) raises ``ModelError``, which the server answers with 400.
    """

    kind = "model"
    batchable = True
    name = "model"
    version = "1"

    @abc.abstractmethod
    def predict(self, batch: np.ndarray) -> np.ndarray | dict[str, np.ndarray]: ...

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "versions": [self.version], "platform": self.kind, "inputs": [], "outputs": []}


def find_savedmodel(model_dir: Path) -> tuple[Path, str] | None:
    """A TensorFlow SavedModel: ``<dir>/<version>/saved_model.pb`` (the highest numeric version,
    searched down the tree as TensorFlow Serving does), or ``saved_model.pb`` at the top."""
    versions = sorted((p.parent for p in model_dir.rglob("saved_model.pb") if p.parent.name.isdigit()),
                      key=lambda p: (len(p.parts), -int(p.name)))
    if versions:
        return versions[0], versions[0].name
    if (model_dir / "saved_model.pb").exists():
        return model_dir, "1"
    return None


def load_handler(model_dir: Path, env: dict[str, str] | None = None) -> Handler:
    """The handler for ``model_dir``: inference code (``code/inference.py``) first, then a
    SavedModel, a Keras file, a scikit-learn pickle (joblib), a TorchScript file."""
    env = env or {}
    if not model_dir.is_dir():
        raise ModelError(f"model directory {str(model_dir)!r} does not exist")
    program = env.get("SAGEMAKER_PROGRAM", "inference.py")
    code_dir = Path(env.get("SAGEMAKER_SUBMIT_DIRECTORY") or model_dir / "code")
    if (code_dir / program).is_file():
        from mlyard.serving.handlers.custom import CustomHandler

        return CustomHandler(model_dir, code_dir / program)
    return load_model_handler(model_dir)


def load_model_handler(model_dir: Path) -> Handler:
    if find_savedmodel(model_dir):
        from mlyard.serving.handlers.tensorflow import SavedModelHandler

        return SavedModelHandler(model_dir)
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and "code" not in p.relative_to(model_dir).parts)
    by_suffix = {s: [p for p in files if p.suffix == s] for s in (".keras", ".h5", ".joblib", ".pkl", ".pt", ".pth")}
    if by_suffix[".keras"] or by_suffix[".h5"]:
        from mlyard.serving.handlers.tensorflow import KerasHandler

        return KerasHandler((by_suffix[".keras"] or by_suffix[".h5"])[0])
    if by_suffix[".joblib"] or by_suffix[".pkl"]:
        from mlyard.serving.handlers.sklearn import SklearnHandler

        return SklearnHandler((by_suffix[".joblib"] or by_suffix[".pkl"])[0])
    if by_suffix[".pt"] or by_suffix[".pth"]:
        from mlyard.serving.handlers.pytorch import TorchScriptHandler

        return TorchScriptHandler((by_suffix[".pt"] or by_suffix[".pth"])[0])
    found = [p.relative_to(model_dir).as_posix() for p in files[:10]]
    raise ModelError(
        f"no loadable model in {str(model_dir)!r} (it holds {found}): expected a TensorFlow SavedModel "
        "(<version>/saved_model.pb), a Keras file (.keras, .h5), a scikit-learn model (model.joblib), a "
        "TorchScript file (model.pt), or inference code in code/inference.py")
