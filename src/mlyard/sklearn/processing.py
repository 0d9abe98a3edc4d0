"""``SKLearnProcessor`` (SageMaker's ``sagemaker.sklearn.processing``)."""

from __future__ import annotations

from typing import Any

from mlyard.processing import ScriptProcessor

__all__ = ["SKLearnProcessor"]


class SKLearnProcessor(ScriptProcessor):
    """Runs a scikit-learn script with ``python3`` on local instances."""

    _framework = "sklearn"

    def __init__(self, framework_version: str, role: str | None = None, instance_type: str | None = None,
                 instance_count: int | None = None, command: list[str] | None = None, **kwargs: Any) -> None:
        self.framework_version = framework_version
        super().__init__(role=role, command=command or ["python3"], instance_type=instance_type,
                         instance_count=instance_count, **kwargs)
