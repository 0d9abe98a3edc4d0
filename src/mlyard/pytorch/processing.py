"""``PyTorchProcessor`` (SageMaker's ``sagemaker.pytorch.processing``)."""

from __future__ import annotations

from typing import Any

from mlyard.processing import FrameworkProcessor
from mlyard.pytorch.estimator import PyTorch

__all__ = ["PyTorchProcessor"]


class PyTorchProcessor(FrameworkProcessor):
    def __init__(self, framework_version: str, role: str | None = None, instance_count: int | None = None,
                 instance_type: str | None = None, py_version: str = "py3", **kwargs: Any) -> None:
        super().__init__(PyTorch, framework_version, role=role, instance_count=instance_count,
                         instance_type=instance_type, py_version=py_version, **kwargs)
