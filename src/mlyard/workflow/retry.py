"""Retry policies of pipeline steps (SageMaker Pipelines' ``sagemaker.workflow.retry``)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow.entities import Entity

__all__ = ["StepExceptionTypeEnum", "SageMakerJobExceptionTypeEnum", "RetryPolicy", "StepRetryPolicy",
           "SageMakerJobStepRetryPolicy"]


class StepExceptionTypeEnum(Enum):
    SERVICE_FAULT = "Step.SERVICE_FAULT"
    THROTTLING = "Step.THROTTLING"


class SageMakerJobExceptionTypeEnum(Enum):
    INTERNAL_ERROR = "SageMaker.JOB_INTERNAL_ERROR"
    CAPACITY_ERROR = "SageMaker.CAPACITY_ERROR"
    RESOURCE_LIMIT = "SageMaker.RESOURCE_LIMIT"


class RetryPolicy(Entity):
    """Retry ``backoff_rate``/``interval_seconds`` apart, at most ``max_attempts`` times or for
    ``expire_after_mins`` minutes (exactly one of the two)."""

    def __init__(self, backoff_rate: float = 2.0, interval_seconds: int = 1, max_attempts: int | None = None,
                 expire_after_mins: int | None = None) -> None:
        if (max_attempts is None) == (expire_after_mins is None):
            raise ValidationError("a retry policy takes max_attempts or expire_after_mins: exactly one of them")
        if not 0.0 < float(backoff_rate) <= 10.0:
            raise ValidationError(f"backoff_rate {backoff_rate!r} must be above 0 and at most 10")
        if not 0 < int(interval_seconds) <= 43200:
            raise ValidationError(f"interval_seconds {interval_seconds!r} must be 1 to 43200")
        if max_attempts is not None and not 0 < int(max_attempts) <= 20:
            raise ValidationError(f"max_attempts {max_attempts!r} must be 1 to 20")
        if expire_after_mins is not None and not 0 <= int(expire_after_mins) <= 14400:
            raise ValidationError(f"expire_after_mins {expire_after_mins!r} must be 0 to 14400")
        self.backoff_rate = float(backoff_rate)
        self.interval_seconds = int(interval_seconds)
        self.max_attempts = max_attempts
        self.expire_after_mins = expire_after_mins

    def _request(self, exceptions: list[str]) -> dict[str, Any]:
        request: dict[str, Any] = {"ExceptionType": exceptions, "IntervalSeconds": self.interval_seconds,
                                   "BackoffRate": self.backoff_rate}
        if self.max_attempts is not None:
            request["MaxAttempts"] = int(self.max_attempts)
        else:
            request["ExpireAfterMin"] = int(self.expire_after_mins)  # type: ignore[arg-type]
        return request


class StepRetryPolicy(RetryPolicy):
    def __init__(self, exception_types: list[StepExceptionTypeEnum], backoff_rate: float = 2.0,
                 interval_seconds: int = 1, max_attempts: int | None = None,
                 expire_after_mins: int | None = None) -> None:
        super().__init__(backoff_rate, interval_seconds, max_attempts, expire_after_mins)
        if not exception_types or not all(isinstance(e, StepExceptionTypeEnum) for e in exception_types):
            raise ValidationError("StepRetryPolicy's exception_types are StepExceptionTypeEnum members "
                                  "(SERVICE_FAULT, THROTTLING)")
        self.exception_types = list(exception_types)

    def to_request(self) -> dict[str, Any]:
        return self._request([e.value for e in self.exception_types])


class SageMakerJobStepRetryPolicy(RetryPolicy):
    def __init__(self, exception_types: list[SageMakerJobExceptionTypeEnum] | None = None,
                 failure_reason_types: list[SageMakerJobExceptionTypeEnum] | None = None, backoff_rate: float = 2.0,
                 interval_seconds: int = 1, max_attempts: int | None = None,
                 expire_after_mins: int | None = None) -> None:
        super().__init__(backoff_rate, interval_seconds, max_attempts, expire_after_mins)
        kinds = list(exception_types or []) + list(failure_reason_types or [])
        if not kinds or not all(isinstance(e, SageMakerJobExceptionTypeEnum) for e in kinds):
            raise ValidationError("SageMakerJobStepRetryPolicy's exception_types are SageMakerJobExceptionTypeEnum "
                                  "members (INTERNAL_ERROR, CAPACITY_ERROR, RESOURCE_LIMIT)")
        self.exception_types = list(dict.fromkeys(kinds))

    def to_request(self) -> dict[str, Any]:
        return self._request([e.value for e in self.exception_types])
