"""``Pipeline`` (SageMaker Pipelines' ``sagemaker.workflow.pipeline``): a named DAG of steps with
parameters. ``definition()`` is the JSON the control plane stores; ``upsert`` creates or updates
it there; ``start`` runs it (on the workflow engine) and returns a ``_PipelineExecution``."""

from __future__ import annotations

import json
import time
from typing import Any

from mlyard.errors import MlyardError, UnexpectedStatusException, ValidationError
from mlyard.workflow.entities import primitive_or_expr
from mlyard.workflow.pipeline_experiment_config import PipelineExperimentConfig
from mlyard.workflow.steps import Step, flat

__all__ = ["Pipeline", "_PipelineExecution", "PipelineGraph"]

_DEFAULT = object()


class Pipeline:
    def __init__(self, name: str = "", parameters: list[Any] | None = None,
                 pipeline_experiment_config: Any = _DEFAULT, steps: list[Any] | None = None,
                 sagemaker_session: Any = None, pipeline_definition_config: Any = None) -> None:
        from mlyard.session import Session

        if not name:
            raise ValidationError("a pipeline needs a name")
        self.name = name
        self.parameters = list(parameters or [])
        self.pipeline_experiment_config = (PipelineExperimentConfig.default() if pipeline_experiment_config
                                           is _DEFAULT else pipeline_experiment_config)
        self.steps = flat(list(steps or []))
        for s in self.steps:
            if not isinstance(s, Step):
                raise ValidationError(f"pipeline {name!r}: steps are Step objects, not {type(s).__name__}")
        self.sagemaker_session = sagemaker_session or Session()
        self.pipeline_definition_config = pipeline_definition_config

    @property
    def _client(self) -> Any:
        return self.sagemaker_session.client

    def to_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "Version": "2020-12-01", "Metadata": {},
            "Parameters": [p.to_request() for p in self.parameters],
            "PipelineExperimentConfig": (self.pipeline_experiment_config.to_request()
                                         if self.pipeline_experiment_config is not None else None),
            "Steps": [s.to_request() for s in self.steps],
        }
        out: dict[str, Any] = primitive_or_expr(request)
        return out

    def definition(self) -> str:
        """The pipeline's definition as JSON, checked (the DAG, references, parameters)."""
        from mlyard.workflow.compile import check_definition

        request = self.to_request()
        check_definition(request)
        return json.dumps(request)

    def _request(self, role_arn: str | None, description: str | None, parallelism_config: Any
                 ) -> dict[str, Any]:
        return {"PipelineDefinition": self.definition(), **_given(
            RoleArn=role_arn, PipelineDescription=description,
            ParallelismConfiguration=None if parallelism_config is None else _parallelism(parallelism_config))}

    def create(self, role_arn: str | None = None, description: str | None = None, tags: list[Any] | None = None,
               parallelism_config: Any = None) -> dict[str, Any]:
        req = self._request(role_arn, description, parallelism_config)
        req["PipelineName"] = self.name
        if tags:
            req["Tags"] = tags
        created: dict[str, Any] = self._client.create_pipeline(req)
        return created

    def update(self, role_arn: str | None = None, description: str | None = None, parallelism_config: Any = None
               ) -> dict[str, Any]:
        updated: dict[str, Any] = self._client.update_pipeline(self.name, self._request(role_arn, description,
                                                                                         parallelism_config))
        return updated

    def upsert(self, role_arn: str | None = None, description: str | None = None, tags: list[Any] | None = None,
               parallelism_config: Any = None) -> dict[str, Any]:
        """Create the pipeline, or update it if it exists."""
        from mlyard.errors import NotFoundError

        try:
            self._client.describe_pipeline(self.name)
        except NotFoundError:
            return self.create(role_arn, description, tags, parallelism_config)
        return self.update(role_arn, description, parallelism_config)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self._client.describe_pipeline(self.name)
        return described

    def delete(self) -> dict[str, Any]:
        deleted: dict[str, Any] = self._client.delete_pipeline(self.name)
        return deleted

    def start(self, parameters: dict[str, Any] | None = None, execution_display_name: str | None = None,
              execution_description: str | None = None, parallelism_config: Any = None,
              selective_execution_config: Any = None) -> _PipelineExecution:
        """Run the pipeline; ``parameters`` by name (checked against their types)."""
        req = {"PipelineParameters": [{"Name": k, "Value": v} for k, v in (parameters or {}).items()], **_given(
            PipelineExecutionDisplayName=execution_display_name, PipelineExecutionDescription=execution_description,
            ParallelismConfiguration=None if parallelism_config is None else _parallelism(parallelism_config),
            SelectiveExecutionConfig=None if selective_execution_config is None
            else selective_execution_config.to_request())}
        started = self._client.start_pipeline_execution(self.name, req)
        return _PipelineExecution(arn=started["PipelineExecutionArn"], sagemaker_session=self.sagemaker_session)

    def list_executions(self, sort_by: str | None = None, sort_order: str | None = None,
                        max_results: int | None = None, next_token: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = self._client.list_pipeline_executions(self.name, limit=max_results or 100)
        if sort_order == "Ascending":
            found["PipelineExecutionSummaries"].reverse()
        return found


def _given(**fields: Any) -> dict[str, Any]:
    """The request fields that were given (not None)."""
    return {k: v for k, v in fields.items() if v is not None}


def _parallelism(config: Any) -> dict[str, int]:
    if isinstance(config, dict):
        value = config.get("MaxParallelExecutionSteps")
    else:
        value = getattr(config, "max_parallel_execution_steps", None)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError("parallelism_config needs MaxParallelExecutionSteps: a whole number of at least 1")
    return {"MaxParallelExecutionSteps": value}


class _PipelineExecution:
    """One execution of a pipeline, by its ARN (``arn:mlyard:local:pipeline/<name>/execution/<id>``)."""

    def __init__(self, arn: str, sagemaker_session: Any = None) -> None:
        from mlyard.session import Session

        self.arn = arn
        self.sagemaker_session = sagemaker_session or Session()
        rest = arn.split(":pipeline/", 1)[-1]
        self._pipeline, _, self._id = rest.partition("/execution/")
        if not self._pipeline or not self._id:
            raise ValidationError(f"{arn!r} is not a pipeline execution's ARN")

    def _call(self, what: str = "", method: str = "GET", **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.sagemaker_session.client.pipeline_execution(self._pipeline, self._id, what,
                                                                                 method, **kwargs)
        return result

    def describe(self) -> dict[str, Any]:
        return self._call()

    def list_steps(self) -> list[dict[str, Any]]:
        """The steps that started, the latest first (SageMaker's order)."""
        steps: list[dict[str, Any]] = self._call("steps")["PipelineExecutionSteps"]
        return steps

    def stop(self) -> dict[str, Any]:
        return self._call("stop", "POST")

    def retry(self) -> dict[str, Any]:
        """Run it again from the steps that failed or were stopped (``RetryPipelineExecution``)."""
        return self._call("retry", "POST")

    def wait(self, delay: int = 30, max_attempts: int = 60) -> dict[str, Any]:
        """Return when the execution has ended (at most ``delay * max_attempts`` seconds); raises
        ``UnexpectedStatusException`` if it did not succeed."""
        deadline = time.monotonic() + max(1, delay) * max(1, max_attempts)
        while True:
            remaining = deadline - time.monotonic()
            desc = self._call("wait", params={"timeout": max(0.0, min(20.0, remaining))},
                              timeout=min(20.0, max(0.0, remaining)) + 30)
            status = desc["PipelineExecutionStatus"]
            if status != "Executing":
                break
            if remaining <= 0:
                raise MlyardError(f"pipeline execution {self.arn} is still executing after "
                                  f"{delay * max_attempts} s")
        if status != "Succeeded":
            failed = [s for s in self.list_steps() if s.get("StepStatus") == "Failed"]
            reason = "; ".join(f"step {s['StepName']!r}: {s.get('FailureReason')}" for s in failed)
            raise UnexpectedStatusException(
                f"pipeline execution {self.arn} ended {status}: {reason or desc.get('FailureReason')}",
                allowed_statuses=["Succeeded"], actual_status=status)
        return desc

    def result(self, step_name: str) -> Any:
        """A step's outcome: a condition's ``Outcome``, a job step's job description."""
        for step in self.list_steps():
            if step["StepName"] != step_name:
                continue
            if step.get("StepStatus") != "Succeeded":
                status = str(step.get("StepStatus"))
                raise UnexpectedStatusException(f"step {step_name!r} is {status}, not Succeeded: "
                                                f"{step.get('FailureReason') or ''}",
                                                allowed_statuses=["Succeeded"], actual_status=status)
            meta = step.get("Metadata") or {}
            if "Condition" in meta:
                return meta["Condition"]["Outcome"] == "true"
            for field, describe in (("TrainingJob", "describe_training_job"),
                                    ("ProcessingJob", "describe_processing_job"),
                                    ("TransformJob", "describe_transform_job"),
                                    ("TuningJob", "describe_tuning_job"), ("Model", "describe_model")):
                if field in meta:
                    return getattr(self.sagemaker_session, describe)(meta[field]["Arn"].rsplit("/", 1)[-1])
            return meta
        raise ValidationError(f"execution {self.arn} has no step {step_name!r} that ran")


class PipelineGraph:
    """The DAG of a pipeline's steps: ``step_map``, and ``adjacency_list`` (step -> the steps that
    wait for it)."""

    def __init__(self, steps: list[Step]) -> None:
        from mlyard.workflow.graph import pipeline_graph

        definition = primitive_or_expr({"Steps": [s.to_request() for s in steps]})
        waits = pipeline_graph(definition)
        self.step_map = {s.name: s for s in steps}
        self.adjacency_list: dict[str, list[str]] = {name: [] for name in waits}
        for name, deps in waits.items():
            for dep in deps:
                self.adjacency_list[dep].append(name)

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> PipelineGraph:
        return cls(pipeline.steps)
