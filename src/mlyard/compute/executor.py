"""Executors start job runners and answer whether they are still alive."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Executor", "RunnerHandle"]


@dataclass(frozen=True)
class RunnerHandle:
    pid: int
    started: float  # the process's start time: a pid alone may be reused after the runner ends


class Executor(abc.ABC):
    """The contract every executor honours: ``start`` launches ``python -m mlyard.runtime.runner
    JOB_DIR`` somewhere it survives the control plane's restart; ``alive`` and ``stop`` work on a
    handle from an earlier ``start``, also after such a restart."""

    @abc.abstractmethod
    def start(self, job_dir: Path, env: dict[str, str]) -> RunnerHandle: ...

    @abc.abstractmethod
    def alive(self, handle: RunnerHandle) -> bool: ...

    @abc.abstractmethod
    def stop(self, handle: RunnerHandle) -> None:
        """Ask the runner to stop its job (it stops the hosts and reports Stopped)."""

    @abc.abstractmethod
    def kill(self, handle: RunnerHandle) -> None:
        """End the runner and everything it started at once: what a stop escalates to when the
        runner has not ended its job within the grace period."""
