"""SageMaker's exception names (``sagemaker.exceptions``) on mlyard's one hierarchy (``errors.py``).

A notebook's ``except sagemaker.exceptions.UnexpectedStatusException`` becomes
``except mlyard.exceptions.UnexpectedStatusException`` and catches what mlyard raises: the
classes here are ``errors.py``'s (or subclasses of ``MlyardError``), never a parallel family.
"""

from __future__ import annotations

from typing import Any

from mlyard.errors import MlyardError, UnexpectedStatusException, ValidationError

__all__ = [
    "UnexpectedStatusException", "CapacityError", "AsyncInferenceError", "ObjectNotExistedError",
    "PollingTimeoutError", "UnexpectedClientError", "AsyncInferenceModelError", "AutoMLStepInvalidModeError",
    "ModelStreamError", "InternalStreamFailure",
]


class CapacityError(UnexpectedStatusException):
    """A job that failed for lack of capacity (SageMaker's name; mlyard's scheduler queues jobs
    instead, so it only names what a notebook catches)."""


class AsyncInferenceError(MlyardError):
    """Base of the asynchronous inference errors: built from keywords (``message=``,
    ``output_path=``...) as SageMaker builds them."""

    code = "AsyncInferenceError"
    fmt = "An unspecified error occurred"

    def __init__(self, **kwargs: Any) -> None:
        try:
            message = self.fmt.format(**kwargs)
        except KeyError:  # a field the format names was not given: say what was
            message = f"{self.fmt.split('{')[0].strip()} {kwargs}"
        super().__init__(message)
        self.kwargs = kwargs


class ObjectNotExistedError(AsyncInferenceError):
    fmt = "Object not exist at {output_path}. {message}"


class PollingTimeoutError(AsyncInferenceError):
    fmt = "No result at {output_path} after polling for {seconds} seconds. {message}"


class UnexpectedClientError(AsyncInferenceError):
    fmt = "Encountered unexpected client error: {message}"


class AsyncInferenceModelError(AsyncInferenceError):
    fmt = "Model returned error: {message} "


class AutoMLStepInvalidModeError(ValidationError):
    """An AutoML step in an unsupported mode (mlyard has no AutoML: named so notebooks import)."""


class ModelStreamError(MlyardError):
    """An error in a streamed model response."""

    code = "ModelStreamError"

    def __init__(self, message: str = "An error occurred", code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InternalStreamFailure(MlyardError):
    """A streamed response that failed inside the endpoint."""

    code = "InternalStreamFailure"
