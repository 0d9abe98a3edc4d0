"""``SelectiveExecutionConfig`` (SageMaker Pipelines' ``sagemaker.workflow.selective_execution_config``):
run only ``selected_steps`` of a pipeline; every other step's output is what it output in the
source execution (``source_pipeline_execution_arn``), where it must have succeeded."""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError

__all__ = ["SelectiveExecutionConfig"]


class SelectiveExecutionConfig:
    def __init__(self, selected_steps: list[str], source_pipeline_execution_arn: str | None = None,
                 reference_latest_execution: bool = True) -> None:
        if not selected_steps or not all(isinstance(s, str) and s for s in selected_steps):
            raise ValidationError("SelectiveExecutionConfig needs selected_steps: the names of the steps to run")
        if not source_pipeline_execution_arn:
            raise ValidationError("SelectiveExecutionConfig needs source_pipeline_execution_arn: the execution whose "
                                  "outputs the other steps take (execution.arn)")
        self.selected_steps = list(selected_steps)
        self.source_pipeline_execution_arn = source_pipeline_execution_arn
        self.reference_latest_execution = reference_latest_execution

    def to_request(self) -> dict[str, Any]:
        return {"SourcePipelineExecutionArn": self.source_pipeline_execution_arn,
                "SelectedSteps": [{"StepName": s} for s in self.selected_steps]}
