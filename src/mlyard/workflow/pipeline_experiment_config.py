"""``PipelineExperimentConfig`` (SageMaker Pipelines' ``sagemaker.workflow.pipeline_experiment_config``):
the experiment and trial an execution's jobs are recorded under; by default the pipeline's name and
the execution's id. The definition holds it; mlyard keeps it there for the notebook that reads it."""

from __future__ import annotations

from typing import Any

from mlyard.workflow.entities import Entity, PipelineVariable, primitive_or_expr
from mlyard.workflow.execution_variables import ExecutionVariables

__all__ = ["PipelineExperimentConfig", "PipelineExperimentConfigProperty", "PipelineExperimentConfigProperties"]


class PipelineExperimentConfig(Entity):
    def __init__(self, experiment_name: Any, trial_name: Any) -> None:
        self.experiment_name = experiment_name
        self.trial_name = trial_name

    @classmethod
    def default(cls) -> PipelineExperimentConfig:
        return cls(ExecutionVariables.PIPELINE_NAME, ExecutionVariables.PIPELINE_EXECUTION_ID)

    def to_request(self) -> dict[str, Any]:
        return {"ExperimentName": primitive_or_expr(self.experiment_name),
                "TrialName": primitive_or_expr(self.trial_name)}


class PipelineExperimentConfigProperty(PipelineVariable):
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def expr(self) -> dict[str, str]:
        return {"Get": f"PipelineExperimentConfig.{self.name}"}


class PipelineExperimentConfigProperties:
    EXPERIMENT_NAME = PipelineExperimentConfigProperty("ExperimentName")
    TRIAL_NAME = PipelineExperimentConfigProperty("TrialName")
