"""How both executors start the processes of a job on a machine: runners and host agents forked by
a fork server, and other processes (services) started logged.

A runner started as a new Python pays for the interpreter's start and mlyard's imports (0.2 s of
CPU, measured), taken from the job's own hosts when the machine is busy. ``ForkServer`` starts
``python -m mlyard.runtime.runner --fork-server`` once per machine (per environment), which
imports the runtime and then forks a runner or host agent per line it reads; ``Forked`` follows
such a process, which is not a child of its starter, through a pidfd."""

from __future__ import annotations

import os
import select
import subprocess
import threading
from typing import Any

__all__ = ["ForkServer", "Forked", "start_logged"]


class ForkServer:
    """A fork server for runners and host agents of one environment (a changed environment gets a
    new one); it exits when this side closes its input, or goes away. Thread-safe."""

    def __init__(self, python: str) -> None:
        self.python = python
        self._lock = threading.Lock()
        self._env: dict[str, str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def prepare(self, env: dict[str, str]) -> None:
        """Start the fork server for ``env`` now, ahead of the first fork."""
        with self._lock:
            self._ensure(env)

    def _ensure(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._env == env and self._proc.poll() is None:
            return self._proc
        self._retire()
        self._env = env
        self._proc = subprocess.Popen(
            [self.python, "-m", "mlyard.runtime.runner", "--fork-server"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True, close_fds=True)
        return self._proc

    def fork(self, args: list[str], env: dict[str, str]) -> Forked | None:
        """Fork a runner (``args``: channel, work directory) or, ``--agent`` first, a host agent;
        None if the fork server failed (the caller then starts a new process)."""
        with self._lock:
            proc = self._ensure(env)
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(("\t".join(args) + "\n").encode())
                proc.stdin.flush()
                answer = proc.stdout.readline()
            except OSError:
                answer = b""
            if not answer.strip().isdigit():
                self._retire()  # broken: a new one next time
                return None
        return Forked(int(answer))

    def _retire(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            try:
                if pipe:
                    pipe.close()  # end-of-file: it exits; what it forked goes on
            except OSError:
                pass
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        with self._lock:
            self._retire()


class Forked:
    """A process a fork server started, followed by its starter like a ``Popen``: its end is seen
    through a pidfd (or, on a kernel without them, by psutil's polling). It is not the starter's
    child, so it is neither reaped nor gives its exit code here (``poll`` says 0 once it ended)."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.pid = pid
        self._ended = False
        self._fd: int | None = None  # open as long as this lives: several threads ask at once
        self._process: Any = None
        try:
            self._fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._ended = True
        except (OSError, AttributeError):
            try:
                self._process = psutil.Process(pid)
            except psutil.NoSuchProcess:
                self._ended = True

    def poll(self) -> int | None:
        return 0 if self._ended_within(0.0) else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended_within(timeout):
            raise subprocess.TimeoutExpired("runner", timeout or 0.0)
        return 0

    def _ended_within(self, timeout: float | None) -> bool:
        import psutil

        if self._ended:
            return True
        if self._fd is not None:
            self._ended = bool(select.select([self._fd], [], [], timeout)[0])
        elif self._process is not None:
            try:
                self._process.wait(timeout)
                self._ended = True
            except psutil.TimeoutExpired:
                pass
        return self._ended

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


def start_logged(argv: list[str], env: dict[str, str], log_path: str,
                 channel_log: tuple[str, str] | None) -> subprocess.Popen[bytes]:
    """Start a process of its own session, its output into ``log_path``, or into the runner channel
    object ``channel_log`` (location, name) if given."""
    from mlyard.runtime.runner_channel import pump_to_channel

    os.makedirs(os.path.dirname(log_path), exist_ok=True)  # also where a service's port file goes
    if channel_log is not None:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, close_fds=True)
        assert proc.stdout is not None
        pump_to_channel(proc.stdout, *channel_log)
        return proc
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                start_new_session=True, close_fds=True)
