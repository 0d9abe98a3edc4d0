"""The one hierarchy of mlyard's errors.

The server maps each class to an HTTP status and a JSON body ``{"error": code, "message": ...}``;
the client maps the body back to the same class, so a caller catches the same exception whether
the check ran in the SDK or in the control plane.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MlyardError",
    "ValidationError",
    "NotFoundError",
    "ConflictError",
    "AuthenticationError",
    "ServerUnavailableError",
    "UnexpectedStatusException",
    "error_for_code",
    "MlyardWarning",
    "PayloadTooLargeError",
    "UnsupportedMediaTypeError",
    "ModelError",
]


class MlyardWarning(UserWarning):
    """Something the user should know that does not stop the work (a request scaled down...)."""


class MlyardError(Exception):
    """Base of every error mlyard raises on purpose."""

    status_code = 500
    code = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message}


class ValidationError(MlyardError, ValueError):
    """A request that can never succeed as written: fix the input."""

    status_code = 400
    code = "ValidationException"


class PayloadTooLargeError(MlyardError):
    status_code = 413
    code = "PayloadTooLarge"


class UnsupportedMediaTypeError(MlyardError):
    status_code = 415
    code = "UnsupportedMediaType"


class ModelError(MlyardError):
    """The model could not be loaded, or rejected the input it was given."""

    status_code = 400
    code = "ModelError"


class NotFoundError(MlyardError, LookupError):
    status_code = 404
    code = "ResourceNotFound"


class ConflictError(MlyardError):
    """A name already taken, or an action the resource's state does not allow."""

    status_code = 409
    code = "ResourceInUse"


class AuthenticationError(MlyardError):
    status_code = 401
    code = "Unauthorized"


class ServerUnavailableError(MlyardError):
    """The control plane could not be reached or started."""

    status_code = 503
    code = "ServiceUnavailable"


class UnexpectedStatusException(MlyardError, ValueError):
    """A job ended in a status other than the one waited for (SageMaker's name for it, a
    ``ValueError`` there too)."""

    code = "UnexpectedStatus"

    def __init__(self, message: str, allowed_statuses: list[str], actual_status: str) -> None:
        super().__init__(message)
        self.allowed_statuses = allowed_statuses
        self.actual_status = actual_status


_BY_CODE = {
    cls.code: cls
    for cls in (MlyardError, ValidationError, NotFoundError, ConflictError, AuthenticationError,
                ServerUnavailableError, PayloadTooLargeError, UnsupportedMediaTypeError, ModelError)
}


def error_for_code(code: str, message: str) -> MlyardError:
    return _BY_CODE.get(code, MlyardError)(message)
