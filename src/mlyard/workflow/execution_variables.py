"""Execution variables (SageMaker Pipelines' ``sagemaker.workflow.execution_variables``): facts of
the running execution, ``{"Get": "Execution.<name>"}`` in the definition."""

from __future__ import annotations

from mlyard.workflow.entities import PipelineVariable

__all__ = ["ExecutionVariable", "ExecutionVariables"]


class ExecutionVariable(PipelineVariable):
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def expr(self) -> dict[str, str]:
        return {"Get": f"Execution.{self.name}"}


class ExecutionVariables:
    START_DATETIME = ExecutionVariable("StartDateTime")
    CURRENT_DATETIME = ExecutionVariable("CurrentDateTime")
    PIPELINE_NAME = ExecutionVariable("PipelineName")
    PIPELINE_ARN = ExecutionVariable("PipelineArn")
    PIPELINE_EXECUTION_ID = ExecutionVariable("PipelineExecutionId")
    PIPELINE_EXECUTION_ARN = ExecutionVariable("PipelineExecutionArn")
    TRAINING_JOB_NAME = ExecutionVariable("TrainingJobName")
    PROCESSING_JOB_NAME = ExecutionVariable("ProcessingJobName")
