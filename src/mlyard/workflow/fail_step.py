"""``FailStep`` (SageMaker Pipelines' ``sagemaker.workflow.fail_step``): ends the execution as
Failed with its error message."""

from __future__ import annotations

from typing import Any

from mlyard.workflow.entities import primitive_or_expr
from mlyard.workflow.steps import Step, StepTypeEnum

__all__ = ["FailStep"]


class FailStep(Step):
    def __init__(self, name: str, error_message: Any = None, display_name: str | None = None,
                 description: str | None = None, depends_on: list[Any] | None = None) -> None:
        super().__init__(name, display_name, description, StepTypeEnum.FAIL, depends_on)
        self.error_message = error_message if error_message is not None else ""

    @property
    def arguments(self) -> dict[str, Any]:
        return {"ErrorMessage": primitive_or_expr(self.error_message)}
