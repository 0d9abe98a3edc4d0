"""PyTorch estimators (``from mlyard.pytorch import PyTorch``)."""

from mlyard.pytorch.estimator import PyTorch
from mlyard.pytorch.model import PyTorchModel, PyTorchPredictor
from mlyard.pytorch.processing import PyTorchProcessor

__all__ = ["PyTorch", "PyTorchModel", "PyTorchPredictor", "PyTorchProcessor"]
