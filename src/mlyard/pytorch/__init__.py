"""PyTorch estimators (``from mlyard.pytorch import PyTorch``)."""

from mlyard.pytorch.estimator import PyTorch

__all__ = ["PyTorch"]
