"""Pipeline steps (SageMaker Pipelines' ``sagemaker.workflow.steps``): what every step has (a name,
its type, its arguments, what it depends on, retries, caching), and the job steps. A job step's
arguments are the SageMaker API request its SDK call makes (``step_args``: the call made under a
``PipelineSession``; or the estimator/processor/transformer/tuner and its inputs, called here),
without the job's name: each execution names its own jobs."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow.entities import Entity
from mlyard.workflow.properties import Properties

__all__ = ["StepTypeEnum", "Step", "ConfigurableRetryStep", "CacheConfig", "ProcessingStep", "TrainingStep",
           "TransformStep", "TuningStep", "CreateModelStep"]


class StepTypeEnum(Enum):
    CONDITION = "Condition"
    CREATE_MODEL = "Model"
    FAIL = "Fail"
    PROCESSING = "Processing"
    REGISTER_MODEL = "RegisterModel"
    TRAINING = "Training"
    TRANSFORM = "Transform"
    TUNING = "Tuning"
    LAMBDA = "Lambda"


_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")


class CacheConfig:
    """Reuse a step's earlier successful run with the same arguments while ``expire_after`` (an
    ISO 8601 duration, like ``P30D`` or ``PT1H``) holds."""

    def __init__(self, enable_caching: bool = False, expire_after: str | None = None) -> None:
        if enable_caching and expire_after is not None and not _ISO_DURATION.match(str(expire_after)):
            raise ValidationError(f"expire_after {expire_after!r} is not an ISO 8601 duration (like 'P30D' or 'PT1H')")
        self.enable_caching = bool(enable_caching)
        self.expire_after = expire_after

    @property
    def config(self) -> dict[str, Any]:
        request: dict[str, Any] = {"Enabled": self.enable_caching}
        if self.expire_after is not None:
            request["ExpireAfter"] = self.expire_after
        return {"CacheConfig": request}


class Step(Entity):
    """A named step of a pipeline, of ``step_type``; ``depends_on`` names steps (or holds them)
    that must end first, beyond those its arguments refer to."""

    def __init__(self, name: str, display_name: str | None = None, description: str | None = None,
                 step_type: StepTypeEnum | None = None, depends_on: list[Any] | None = None) -> None:
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9\-_]{1,64}$", name):
            raise ValidationError(f"step name {name!r} must be 1 to 64 letters, digits, '-' or '_'")
        self.name = name
        self.display_name = display_name
        self.description = description
        self.step_type = step_type
        self.depends_on = list(depends_on or [])

    @property
    def arguments(self) -> Any:
        raise NotImplementedError

    @property
    def properties(self) -> Properties:
        return Properties(self.name)

    def _depends_on_names(self) -> list[str]:
        names = []
        for dep in flat(self.depends_on):  # a step collection: all its steps
            name = dep if isinstance(dep, str) else getattr(dep, "name", None)
            if not isinstance(name, str):
                raise ValidationError(f"step {self.name!r}: depends_on holds {dep!r}; give step names or steps")
            names.append(name)
        return names

    def to_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"Name": self.name, "Type": self.step_type.value if self.step_type else None,
                                   "Arguments": self.arguments}
        if self.depends_on:
            request["DependsOn"] = self._depends_on_names()
        if self.display_name:
            request["DisplayName"] = self.display_name
        if self.description:
            request["Description"] = self.description
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def flat(steps: list[Any]) -> list[Any]:
    """Steps (or names), each step collection (``RegisterModel``) as its steps."""
    out: list[Any] = []
    for s in steps:
        out += list(s.steps) if hasattr(s, "steps") and not isinstance(s, Step) else [s]
    return out


class ConfigurableRetryStep(Step):
    """A step that may be retried by its ``retry_policies``."""

    def __init__(self, name: str, step_type: StepTypeEnum, display_name: str | None = None,
                 description: str | None = None, depends_on: list[Any] | None = None,
                 retry_policies: list[Any] | None = None) -> None:
        super().__init__(name, display_name, description, step_type, depends_on)
        self.retry_policies = list(retry_policies or [])

    def to_request(self) -> dict[str, Any]:
        request = super().to_request()
        if self.retry_policies:
            request["RetryPolicies"] = [p.to_request() for p in self.retry_policies]
        return request


_NAME_KEYS = {"training": "TrainingJobName", "processing": "ProcessingJobName", "transform": "TransformJobName",
              "tuning": "HyperParameterTuningJobName", "model": "ModelName", "model-package": ""}


def _arguments(step: str, kind: str, step_args: Any, call: Any) -> dict[str, Any]:
    """The request of ``step_args`` (checked to be of ``kind``), or of ``call()`` made now; without
    the name, which each execution gives."""
    from mlyard.workflow.pipeline_context import _StepArguments, call_captured

    if step_args is None:
        step_args = call_captured(call)
    if not isinstance(step_args, _StepArguments):
        raise ValidationError(f"step {step!r}: step_args is what an SDK call returns under a PipelineSession "
                              f"(like estimator.fit(...)), not {type(step_args).__name__}")
    if step_args.kind != kind:
        raise ValidationError(f"step {step!r}: step_args make a {step_args.kind} request, not a {kind} one; "
                              f"give the right step type")
    # the name (each execution names its own), and who asked (the execution's run says who)
    request = {k: v for k, v in step_args.request.items()
               if k not in (_NAME_KEYS[kind], "MlyardUser") and v is not None}
    return request


class _JobStep(ConfigurableRetryStep):
    _kind = ""

    def __init__(self, name: str, step_type: StepTypeEnum, step_args: Any, call: Any, display_name: str | None,
                 description: str | None, cache_config: CacheConfig | None, depends_on: list[Any] | None,
                 retry_policies: list[Any] | None) -> None:
        super().__init__(name, step_type, display_name, description, depends_on, retry_policies)
        if cache_config is not None and not isinstance(cache_config, CacheConfig):
            raise ValidationError(f"step {name!r}: cache_config is a CacheConfig")
        self.cache_config = cache_config
        self.step_args = step_args
        self._request = _arguments(name, self._kind, step_args, call)

    @property
    def arguments(self) -> dict[str, Any]:
        return self._request

    def to_request(self) -> dict[str, Any]:
        request = super().to_request()
        if self.cache_config is not None:
            request.update(self.cache_config.config)
        return request


class TrainingStep(_JobStep):
    """A training job: ``step_args`` from ``estimator.fit(...)`` under a PipelineSession, or
    ``estimator`` and ``inputs``. Its properties are the job's description."""

    _kind = "training"

    def __init__(self, name: str, step_args: Any = None, display_name: str | None = None,
                 description: str | None = None, cache_config: CacheConfig | None = None,
                 depends_on: list[Any] | None = None, retry_policies: list[Any] | None = None,
                 estimator: Any = None, inputs: Any = None) -> None:
        if step_args is None and estimator is None:
            raise ValidationError(f"step {name!r}: give step_args (estimator.fit(...) under a PipelineSession) or "
                                  "estimator")
        self.estimator = estimator
        super().__init__(name, StepTypeEnum.TRAINING, step_args,
                         lambda: estimator.fit(inputs, wait=False), display_name, description, cache_config,
                         depends_on, retry_policies)


class ProcessingStep(_JobStep):
    """A processing job: ``step_args`` from ``processor.run(...)`` under a PipelineSession, or
    ``processor`` with ``inputs``/``outputs``/``job_arguments``/``code``. ``property_files`` name
    JSON files its outputs hold, for ``JsonGet``."""

    _kind = "processing"

    def __init__(self, name: str, step_args: Any = None, processor: Any = None, display_name: str | None = None,
                 description: str | None = None, inputs: list[Any] | None = None, outputs: list[Any] | None = None,
                 job_arguments: list[Any] | None = None, code: str | None = None,
                 property_files: list[Any] | None = None, cache_config: CacheConfig | None = None,
                 depends_on: list[Any] | None = None, retry_policies: list[Any] | None = None,
                 kms_key: str | None = None) -> None:
        if step_args is None and processor is None:
            raise ValidationError(f"step {name!r}: give step_args (processor.run(...) under a PipelineSession) or "
                                  "processor")
        self.processor = processor
        self.property_files = list(property_files or [])

        def call() -> None:
            kwargs: dict[str, Any] = {"inputs": inputs, "outputs": outputs, "arguments": job_arguments,
                                      "wait": False}
            if code is not None:
                processor.run(code=code, **kwargs)
            else:
                processor.run(**kwargs)

        super().__init__(name, StepTypeEnum.PROCESSING, step_args, call, display_name, description, cache_config,
                         depends_on, retry_policies)
        outputs_named = {o.get("OutputName") for o in
                         (self._request.get("ProcessingOutputConfig") or {}).get("Outputs") or []}
        for f in self.property_files:
            if f.output_name not in outputs_named:
                raise ValidationError(f"step {name!r}: property file {f.name!r} is in output {f.output_name!r}, "
                                      f"which the step does not have (its outputs: {sorted(outputs_named)})")

    def to_request(self) -> dict[str, Any]:
        request = super().to_request()
        if self.property_files:
            request["PropertyFiles"] = [f.expr for f in self.property_files]
        return request


class TransformStep(_JobStep):
    """A batch transform job: ``step_args`` from ``transformer.transform(...)`` under a
    PipelineSession, or ``transformer`` and ``inputs`` (a ``TransformInput``)."""

    _kind = "transform"

    def __init__(self, name: str, step_args: Any = None, transformer: Any = None, inputs: Any = None,
                 display_name: str | None = None, description: str | None = None,
                 cache_config: CacheConfig | None = None, depends_on: list[Any] | None = None,
                 retry_policies: list[Any] | None = None) -> None:
        if step_args is None and (transformer is None or inputs is None):
            raise ValidationError(f"step {name!r}: give step_args (transformer.transform(...) under a "
                                  "PipelineSession) or transformer and inputs")

        def call() -> None:
            kwargs = {k: v for k, v in vars(inputs).items() if v is not None and k != "data"}
            transformer.transform(inputs.data, wait=False, **kwargs)

        super().__init__(name, StepTypeEnum.TRANSFORM, step_args, call, display_name, description, cache_config,
                         depends_on, retry_policies)


class TuningStep(_JobStep):
    """A hyperparameter tuning job: ``step_args`` from ``tuner.fit(...)`` under a PipelineSession,
    or ``tuner`` and ``inputs``. ``get_top_model_s3_uri`` names a trial's model."""

    _kind = "tuning"

    def __init__(self, name: str, step_args: Any = None, tuner: Any = None, display_name: str | None = None,
                 description: str | None = None, inputs: Any = None, job_arguments: list[str] | None = None,
                 cache_config: CacheConfig | None = None, depends_on: list[Any] | None = None,
                 retry_policies: list[Any] | None = None) -> None:
        if step_args is None and tuner is None:
            raise ValidationError(f"step {name!r}: give step_args (tuner.fit(...) under a PipelineSession) or tuner")
        super().__init__(name, StepTypeEnum.TUNING, step_args, lambda: tuner.fit(inputs, wait=False), display_name,
                         description, cache_config, depends_on, retry_policies)

    def get_top_model_s3_uri(self, top_k: int, s3_bucket: str, prefix: str = "") -> Any:
        """The model of the ``top_k``-th best trial (0: the best), as
        ``s3://<bucket>/<prefix>/<trial>/output/model.tar.gz``."""
        from mlyard.workflow.functions import Join

        values: list[Any] = ["s3:/", s3_bucket]
        if prefix:
            values.append(prefix.strip("/"))
        values += [self.properties.TrainingJobSummaries[top_k].TrainingJobName, "output/model.tar.gz"]
        return Join(on="/", values=values)


class CreateModelStep(_JobStep):
    """A model: ``step_args`` from ``model.create()`` under a PipelineSession, or ``model``. Its
    properties are the model's description (``ModelName``)."""

    _kind = "model"

    def __init__(self, name: str, step_args: Any = None, model: Any = None, inputs: Any = None,
                 depends_on: list[Any] | None = None, retry_policies: list[Any] | None = None,
                 display_name: str | None = None, description: str | None = None) -> None:
        if step_args is None and model is None:
            raise ValidationError(f"step {name!r}: give step_args (model.create() under a PipelineSession) or model")
        super().__init__(name, StepTypeEnum.CREATE_MODEL, step_args, lambda: model.create(), display_name,
                         description, None, depends_on, retry_policies)
