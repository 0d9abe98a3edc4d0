"""scikit-learn models saved with joblib (``model.joblib``), as SageMaker's container loads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlyard.errors import ModelError
from mlyard.serving.handlers.base import Handler

__all__ = ["SklearnHandler"]


class SklearnHandler(Handler):
    kind = "sklearn"

    def __init__(self, path: Path) -> None:
        import joblib

        # A model artifact from the user's own training job, read from local disk (never from
        # a request): the same trust SageMaker's scikit-learn container gives model.joblib.
        try:
            self._model = joblib.load(path)
        except Exception as exc:
            raise ModelError(f"cannot load the scikit-learn model {str(path)!r}: {exc}") from exc
        if not hasattr(self._model, "predict"):
            raise ModelError(f"{str(path)!r} holds a {type(self._model).__name__}, which has no predict()")

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        try:
            return np.asarray(self._model.predict(x))
        except (ValueError, TypeError) as exc:
            raise ModelError(f"the model rejected the input: {exc}") from exc
