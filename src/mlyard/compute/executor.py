"""The executor contract: where a job's runner runs, and how the control plane reaches it again.

The control plane knows executors only through this contract. What ``start`` returns is an opaque
handle, a JSON object the catalog keeps with the job (``jobs.runner``) and hands back to ``alive``,
``stop`` and ``kill``, also after a restart of the control plane, so an executor keeps in it
whatever finds its runner again (a process id and start time, an actor's name).
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from typing import Any

from mlyard.compute.instance_types import Resources
from mlyard.errors import ValidationError

__all__ = ["Executor", "Launch", "Service", "Handle", "NotPlaced", "EXECUTORS", "SERVICE_HOST", "SERVICE_READY",
           "create_executor", "executor_name"]

Handle = dict[str, Any]

# The executors there are, by the name ``mlyard server --executor`` and MLYARD_EXECUTOR take.
EXECUTORS = ("local", "ray")


class NotPlaced(Exception):
    """Raised by ``start`` when the executor has no room for the job now, though it could have
    later (a cluster's free resources split over nodes, say): the control plane queues the job
    again, with this as its reason, and tries again after ``retry_after`` seconds."""

    def __init__(self, reason: str, retry_after: float = 5.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Launch:
    """What an executor needs to start a job's runner."""

    name: str                      # the job's name
    channel: str                   # the job's runner channel: a folder or an fsspec URI
    hosts: list[str]               # algo-1, ..., one per instance
    per_host: Resources            # what each host gets
    env: dict[str, str] = field(default_factory=dict)  # the runner's environment
    # Whether the hosts may run on different machines (each through a host agent: runtime/remote.py);
    # False keeps them on the runner's (sandboxed hosts, whose limits the runner's machine sets).
    spread: bool = True
    # False: the runner starts its hosts itself, as services of the executor (a transform job's
    # model servers), so no host agent is started for them.
    agents: bool = True


# What a service is told by the executor that starts it: the address to listen on, and the file to
# write the port it bound to (``mlyard serve`` reads both).
SERVICE_HOST = "MLYARD_SERVICE_HOST"
SERVICE_READY = "MLYARD_SERVICE_READY"


@dataclass(frozen=True)
class Service:
    """A long-running server the executor starts (an endpoint's model server instance): it listens
    on the address in ``$MLYARD_SERVICE_HOST`` and writes the port it bound to into the file named
    by ``$MLYARD_SERVICE_READY``."""

    name: str                      # unique among the services running: reservations are named after it
    argv: list[str]
    env: dict[str, str]            # its whole environment
    log: str                       # the file its output goes to (on the machine it runs on) ...
    resources: Resources           # what it is given (a cluster reserves it)
    # A folder of this machine it reads (its model): an executor that starts it on another machine
    # copies the folder there and gives it the copy's path wherever ``argv`` names this one.
    files: str | None = None
    # ... or, if given, this object of a runner channel (location, name), reachable from anywhere.
    channel_log: tuple[str, str] | None = None
    # (job, host, i): it is host i of that job, run in what the executor reserved for the host when it
    # started the job, not in a reservation of its own (a transform job's model servers).
    job_host: tuple[str, str, int] | None = None

    @property
    def ready_file(self) -> str:
        """Where it writes its port (``$MLYARD_SERVICE_READY``): beside its log, on its machine."""
        return os.path.join(os.path.dirname(self.log), f".{self.name}.port")


class Executor(abc.ABC):
    """The contract every executor honours: ``start`` launches the runner of a job
    (``python -m mlyard.runtime.runner JOB_DIR``, or its equivalent) somewhere it survives the
    control plane's restart; ``alive`` and ``kill`` work on the handle ``start`` returned, also
    after such a restart; ``capacity`` is what the scheduler admits jobs against, read again as it
    changes. A stop is not the executor's: it travels in the job's runner channel, which the
    runner watches, wherever it runs."""

    name = "executor"

    @abc.abstractmethod
    def start(self, launch: Launch) -> Handle: ...

    @abc.abstractmethod
    def adopt(self, launch: Launch, reported: dict[str, Any] | None) -> Handle | None:
        """The handle of a runner that was started but whose handle was never recorded (the control
        plane stopped while launching it): found from what it reported (``reported``: its state, or
        None if it reported nothing), None if there is no such runner."""

    @abc.abstractmethod
    def alive(self, handle: Handle) -> bool: ...

    @abc.abstractmethod
    def kill(self, handle: Handle) -> None:
        """End the runner and everything it started at once: what a stop escalates to when the
        runner has not ended its job within the grace period."""

    def release(self, handle: Handle) -> None:  # noqa: B027 (optional: most executors hold nothing)
        """The job has ended (its runner reported the end, or is gone): let go of what the
        executor holds for it (reservations, helpers). Must not block, and may be called again."""

    @abc.abstractmethod
    def capacity(self) -> Resources:
        """What jobs may use in all (CPUs, memory, GPUs); read again on every scheduling pass."""

    # Whether resources may join later (a cluster's nodes): a job that needs what none has now (a
    # GPU) waits for it, instead of being refused.
    elastic = False

    def largest_node(self, want: Resources) -> Resources:
        """The most one host asking for ``want`` can have (the cluster's node that gives the most of
        it); a request beyond it is scaled down."""
        return self.capacity()

    def runner_text(self, handle: Handle) -> str:
        """The runner, in words, for failure reasons ("the job's runner process (pid 42)")."""
        return f"the job's runner ({self.name} executor: {', '.join(f'{k} {v}' for k, v in handle.items())})"

    def placement(self, handle: Handle, hosts: list[str]) -> list[dict[str, Any]]:
        """Where each host runs (``[{"Host": "algo-1", "Node": ...}]``), read from the handle alone;
        empty where there is nothing to tell (everything runs on this machine)."""
        return []

    def check_reachable(self, locations: dict[str, str]) -> None:  # noqa: B027 (optional)
        """Raise ValidationError if a location runners need (what -> folder or URI: the runner
        channels' root, the store) cannot be reached from everywhere runners may run."""

    def describe(self) -> dict[str, Any]:
        """What ``/v1/health`` shows of the executor."""
        cap = self.capacity()
        return {"name": self.name, "cpus": cap.cpus, "memory_mib": cap.memory_mib, "gpus": cap.gpus}

    # -- the service form: long-running servers (endpoint instances) ------------------------------
    # Whether services run on this machine (loopback and Unix sockets reach them).
    same_machine = True

    @abc.abstractmethod
    def start_service(self, service: Service) -> Handle:
        """Start ``service`` somewhere it can be reached from this machine; raise NotPlaced if
        there is no room for it now."""

    @abc.abstractmethod
    def service_address(self, handle: Handle) -> tuple[str, int] | None:
        """(address, port) where the service listens, once it has said so; None before."""

    @abc.abstractmethod
    def service_alive(self, handle: Handle) -> bool: ...

    @abc.abstractmethod
    def stop_service(self, handle: Handle, sig: int) -> None:
        """Send ``sig`` to the service (SIGTERM: finish and exit); SIGKILL also releases what the
        executor holds for it. May be called again, also after the service has exited."""

    def config(self) -> dict[str, Any]:
        """What another process passes to ``create_executor`` to reach the same executor."""
        return {"name": self.name}

    @abc.abstractmethod
    def close(self) -> None:
        """Release what the executor holds (connections, warm processes). Runners keep running."""


def executor_name(given: str | None = None) -> str:
    """The executor to use: ``given``, else ``$MLYARD_EXECUTOR``, else ``local``."""
    name = (given or os.environ.get("MLYARD_EXECUTOR") or "local").strip().lower()
    if name not in EXECUTORS:
        raise ValidationError(f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)} "
                              "(mlyard server --executor NAME, or MLYARD_EXECUTOR)")
    return name


def create_executor(name: str | None = None, ray_address: str | None = None, warm: bool = True) -> Executor:
    """The executor named ``name`` (see ``executor_name``); the Ray one connects to the cluster at
    ``ray_address`` (else ``$RAY_ADDRESS``, else ``auto``) or raises ValidationError."""
    if executor_name(name) == "ray":
        from mlyard.compute.ray import RayExecutor  # only now: nothing else imports ray

        return RayExecutor(ray_address)
    from mlyard.compute.local import LocalExecutor

    return LocalExecutor(warm)
