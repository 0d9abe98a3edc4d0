"""``PyTorch``: script-mode training with PyTorch (SageMaker's ``sagemaker.pytorch``)."""

from __future__ import annotations

from typing import Any

from mlyard.estimator import Framework

__all__ = ["PyTorch"]


class PyTorch(Framework):
    _framework = "pytorch"
    _default_base_name = "pytorch-training"

    def create_model(self, role: str | None = None, **kwargs: Any) -> Any:
        from mlyard.pytorch.model import PyTorchModel

        return PyTorchModel(model_data=self.model_data, role=role or self.role,
                     framework_version=self.framework_version, sagemaker_session=self.sagemaker_session, **kwargs)
