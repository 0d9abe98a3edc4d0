"""The errors a state machine raises while it runs (Step Functions' ``States.*`` names), and the
rules by which Retry and Catch match them."""

from __future__ import annotations

__all__ = ["StatesError", "matches", "ALL", "TASK_FAILED", "TIMEOUT", "HEARTBEAT_TIMEOUT", "RUNTIME",
           "RESULT_PATH_MATCH_FAILURE", "PARAMETER_PATH_FAILURE", "INTRINSIC_FAILURE", "BRANCH_FAILED",
           "NO_CHOICE_MATCHED", "DATA_LIMIT_EXCEEDED", "EXCEED_TOLERATED_FAILURE_THRESHOLD", "PERMISSIONS",
           "TERMINAL"]

ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
RUNTIME = "States.Runtime"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
BRANCH_FAILED = "States.BranchFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
PERMISSIONS = "States.Permissions"
# Neither retried nor caught by States.ALL: the execution fails.
TERMINAL = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})


class StatesError(Exception):
    """A named error of a running state (``error``, as Retry/Catch's ErrorEquals name it) with
    its ``cause`` (a human-readable string)."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause

    def output(self) -> dict[str, str]:
        """What a Catch hands on (placed by its ResultPath)."""
        return {"Error": self.error, "Cause": self.cause}


def matches(error_equals: list[str], error: str) -> bool:
    """Whether a retrier's or catcher's ``ErrorEquals`` names ``error``: by name, or by
    ``States.ALL`` (every error but the terminal ones), or by ``States.TaskFailed`` (every error
    but the timeouts and the terminal ones). ``States.Timeout`` also names a heartbeat timeout."""
    if error in error_equals or (error == HEARTBEAT_TIMEOUT and TIMEOUT in error_equals):
        return True
    if error in TERMINAL:
        return False
    if ALL in error_equals:
        return True
    return TASK_FAILED in error_equals and error not in (TIMEOUT, HEARTBEAT_TIMEOUT)
