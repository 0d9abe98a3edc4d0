"""PyTorch models saved as TorchScript (``model.pt``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlyard.errors import ModelError
from mlyard.serving.handlers.base import Handler

__all__ = ["TorchScriptHandler"]


class TorchScriptHandler(Handler):
    kind = "pytorch_torchscript"

    def __init__(self, path: Path) -> None:
        import torch

        self._torch = torch
        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self._model = torch.jit.load(str(path), map_location=self._device).eval()
        except Exception as exc:
            raise ModelError(f"cannot load the TorchScript model {str(path)!r}: {exc}") from exc

    def predict(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        try:
            with torch.no_grad():
                x = torch.as_tensor(np.asarray(batch, dtype="float32"), device=self._device)
                out: np.ndarray = self._model(x).cpu().numpy()
                return out
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ModelError(f"the model rejected the input: {exc}") from exc
