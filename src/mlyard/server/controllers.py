"""The controller contract: long-lived orchestrations that own child jobs (tuning jobs, workflow
executions). The control plane holds a list of controllers and drives each the same way; none is
wired in by hand:

- ``resume()`` once when the server (re)starts: take up every run that had not ended (its own
  records say where it was; children already started are followed, never started twice);
- ``changed()`` from the control loop whenever some job's state changed (a child may have ended);
- ``tick()`` about once a second (timers, schedules, a driver that died);
- ``stop(name)`` when a user asks for a stop;
- ``shutdown()`` when the server stops: let go of threads, leave the records as they are (the
  next ``resume`` goes on from them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["Controller"]


class Controller(ABC):
    kind: str = ""

    @abstractmethod
    def resume(self) -> None:
        """Take up every run that had not ended."""

    def changed(self) -> None:  # noqa: B027 - optional hook: most controllers follow their children themselves
        """Some job's state changed."""

    def tick(self) -> None:  # noqa: B027 - optional hook
        """About once a second."""

    @abstractmethod
    def stop(self, name: str) -> dict[str, Any]:
        """Stop the run ``name``; its description."""

    @abstractmethod
    def shutdown(self) -> None:
        """The server is stopping."""
