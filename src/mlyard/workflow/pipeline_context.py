"""``PipelineSession`` (SageMaker Pipelines' ``sagemaker.workflow.pipeline_context``): under it,
``estimator.fit()``, ``processor.run()``, ``transformer.transform()``, ``tuner.fit()`` and
``model.create()`` start nothing: they return the request they would have sent (local code and
data uploaded, as they would have been), for a step's ``step_args``. Pipeline variables in the
arguments are kept as the expressions the definition holds.

Every SDK path creates through ``jobs.submit``; while a capture is on (this thread), ``submit``
hands the request here instead of to the server."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from mlyard.errors import ValidationError
from mlyard.session import Session

__all__ = ["PipelineSession", "LocalPipelineSession", "runnable_by_pipeline", "capture"]

_local = threading.local()
F = TypeVar("F", bound=Callable[..., Any])


class _StepArguments:
    """What a call under a ``PipelineSession`` returns: the request of ``kind`` it would have made."""

    def __init__(self, kind: str, request: dict[str, Any], caller: str) -> None:
        self.kind = kind
        self.request = request
        self.caller_name = caller

    def __repr__(self) -> str:
        return f"_StepArguments({self.kind!r} from {self.caller_name})"


class _Captured(Exception):  # noqa: N818 (a signal, not an error)
    def __init__(self, kind: str, request: dict[str, Any]) -> None:
        super().__init__(kind)
        self.kind = kind
        self.request = request


def capturing() -> bool:
    return bool(getattr(_local, "depth", 0))


def captured(kind: str, request: dict[str, Any]) -> None:
    """Called by ``jobs.submit`` while capturing: ends the call with its request."""
    raise _Captured(kind, request)


@contextmanager
def capture() -> Iterator[list[_StepArguments]]:
    """Run SDK calls whose first request is caught (not sent): ``with capture() as got:
    estimator.fit(...)``; ``got[0]`` is then its ``_StepArguments``."""
    got: list[_StepArguments] = []
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield got
    except _Captured as c:
        got.append(_StepArguments(c.kind, c.request, ""))
    finally:
        _local.depth -= 1


def call_captured(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _StepArguments:
    """``fn(*args, **kwargs)``'s request, not sent."""
    with capture() as got:
        fn(*args, **kwargs)
    if not got:
        raise ValidationError(f"{getattr(fn, '__qualname__', fn)} made no request to capture for a pipeline step")
    got[0].caller_name = getattr(fn, "__qualname__", str(fn))
    return got[0]


def runnable_by_pipeline(fn: F) -> F:
    """Under a ``PipelineSession`` (the object's ``sagemaker_session``), the method returns its
    request as ``_StepArguments`` instead of sending it."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        session = getattr(self, "sagemaker_session", None)
        if isinstance(session, PipelineSession) and not capturing():
            return call_captured(fn, self, *args, **kwargs)
        return fn(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class PipelineSession(Session):
    """A session whose ``fit``/``run``/``transform``/``create`` calls make step arguments."""

    def __init__(self, boto_session: Any = None, sagemaker_client: Any = None, default_bucket: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(boto_session=boto_session, sagemaker_client=sagemaker_client,
                         default_bucket=default_bucket, **kwargs)
        self.context: _StepArguments | None = None


LocalPipelineSession = PipelineSession  # mlyard's pipelines run locally with every step type
