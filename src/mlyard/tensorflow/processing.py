"""``TensorFlowProcessor`` (SageMaker's ``sagemaker.tensorflow.processing``)."""

from __future__ import annotations

from typing import Any

from mlyard.processing import FrameworkProcessor
from mlyard.tensorflow.estimator import TensorFlow

__all__ = ["TensorFlowProcessor"]


class TensorFlowProcessor(FrameworkProcessor):
    def __init__(self, framework_version: str, role: str | None = None, instance_count: int | None = None,
                 instance_type: str | None = None, py_version: str = "py3", **kwargs: Any) -> None:
        super().__init__(TensorFlow, framework_version, role=role, instance_count=instance_count,
                         instance_type=instance_type, py_version=py_version, **kwargs)
