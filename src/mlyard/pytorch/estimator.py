"""``PyTorch``: script-mode training with PyTorch (SageMaker's ``sagemaker.pytorch``)."""

from __future__ import annotations

from mlyard.estimator import Framework

__all__ = ["PyTorch"]


class PyTorch(Framework):
    _framework = "pytorch"
    _model_cls = "mlyard.pytorch.model.PyTorchModel"
    _default_base_name = "pytorch-training"
