"""Compute steps: ``LambdaStep`` invokes a function registered with
``mlyard.stepfunctions.functions`` (or a module path), run by mlyard in a job of its own."""

from __future__ import annotations

from typing import Any

from mlyard.stepfunctions.steps.states import Task

__all__ = ["LambdaStep"]


class LambdaStep(Task):
    """``arn:aws:states:::lambda:invoke``: ``parameters`` holds ``FunctionName`` and ``Payload``
    (placeholders allowed); the step's result is ``{"Payload": <the function's result>,
    "StatusCode": 200, ...}``."""

    def __init__(self, state_id: str, wait_for_callback: bool = False, **kwargs: Any) -> None:
        if wait_for_callback:
            raise ValueError("wait_for_callback (task tokens) is not supported: mlyard waits for the function "
                             "itself; leave wait_for_callback False")
        kwargs.setdefault("resource", "arn:aws:states:::lambda:invoke")
        super().__init__(state_id, **kwargs)
