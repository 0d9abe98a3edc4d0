"""Pipeline steps (SageMaker Pipelines' ``sagemaker.workflow.steps``): what every step has (a name,
its type, its arguments, what it depends on, retries, caching). The job steps (``ProcessingStep``,
``TrainingStep``, ...) are not provided yet."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow.entities import Entity
from mlyard.workflow.properties import Properties

__all__ = ["StepTypeEnum", "Step", "ConfigurableRetryStep", "CacheConfig"]

_NOT_YET = ("ProcessingStep", "TrainingStep", "TuningStep", "TransformStep", "CreateModelStep")


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
        for dep in self.depends_on:
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


def __getattr__(name: str) -> Any:
    if name in _NOT_YET:
        raise AttributeError(f"mlyard does not provide sagemaker.workflow.steps.{name} yet (SageMaker Pipelines); "
                             "write workflows with mlyard.stepfunctions")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
