"""The local executor: each runner is a detached process on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import psutil

from mlyard.compute.executor import SERVICE_HOST, SERVICE_READY, Executor, Handle, Launch, Service
from mlyard.compute.instance_types import Resources
from mlyard.compute.processes import ForkServer, start_logged
from mlyard.compute.resources import machine
from mlyard.runtime.hosts import kill_tree
from mlyard.runtime.runner_channel import RunnerChannel, work_dir_for

__all__ = ["LocalExecutor"]


class LocalExecutor(Executor):
    """Runners are processes of this machine, in sessions of their own; a handle is the runner's
    pid and start time (a pid alone may be reused after the runner ends).

    Runners are forked by a fork server (``processes.ForkServer``: interpreter started, modules
    imported once), so a job pays neither for Python's start-up nor for its imports. The fork
    server exits when its server goes away; the runners it forked go on."""

    name = "local"

    def __init__(self, warm: bool = True) -> None:
        self._children: list[subprocess.Popen[bytes]] = []
        self._services: dict[int, subprocess.Popen[bytes]] = {}  # pid -> the service this process started
        self._lock = threading.Lock()
        self._forks = ForkServer(sys.executable) if warm else None

    def _spawn(self, args: list[str], env: dict[str, str], stdout: int | IO[bytes]) -> subprocess.Popen[bytes]:
        # A new session: the runner is not in the server's process group, so it outlives the server.
        proc = subprocess.Popen([sys.executable, "-m", "mlyard.runtime.runner", *args], stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=stdout, env=env, start_new_session=True, close_fds=True)
        with self._lock:
            self._children.append(proc)
        return proc

    def start(self, launch: Launch) -> Handle:
        env = launch.env
        work = work_dir_for(RunnerChannel(launch.channel), launch.name)
        work.mkdir(parents=True, exist_ok=True)
        args = [launch.channel, str(work)]
        pid = None
        if self._forks is not None:
            forked = self._forks.fork(args, env)
            pid = forked.pid if forked is not None else None
        if pid is None:
            with (work / "runner.log").open("ab") as log:
                pid = self._spawn(args, env, log).pid
        try:
            started = psutil.Process(pid).create_time()
        except psutil.Error:
            started = 0.0
        return {"pid": pid, "started": started}

    def adopt(self, launch: Launch, reported: dict[str, Any] | None) -> Handle | None:
        pid = int((reported or {}).get("runner_pid") or 0)
        if not pid:
            return None
        try:
            started = psutil.Process(pid).create_time()
        except psutil.Error:
            started = 0.0
        return {"pid": pid, "started": started}

    def runner_text(self, handle: Handle) -> str:
        return f"the job's runner process (pid {handle['pid']})"

    def capacity(self) -> Resources:
        return machine()

    def close(self) -> None:
        if self._forks is not None:
            self._forks.close()

    def reap(self) -> None:
        """Collect exit statuses of runners this process started (no zombies)."""
        with self._lock:
            self._children = [p for p in self._children if p.poll() is None]

    def _process(self, handle: Handle) -> psutil.Process | None:
        try:
            proc = psutil.Process(int(handle["pid"]))
            started = float(handle.get("started") or 0.0)
            if started and abs(proc.create_time() - started) > 0.5:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    def alive(self, handle: Handle) -> bool:
        self.reap()
        return self._process(handle) is not None

    def kill(self, handle: Handle) -> None:
        proc = self._process(handle)
        if proc is not None:
            kill_tree(proc)  # the runner first: it would start nothing new, and its hosts die with it

    # -- services: processes of this machine, in sessions of their own -----------------------------
    def start_service(self, service: Service) -> Handle:
        ready = Path(service.ready_file)
        ready.unlink(missing_ok=True)
        env = {**service.env, SERVICE_HOST: "127.0.0.1", SERVICE_READY: str(ready)}
        proc = start_logged(service.argv, env, service.log, service.channel_log)
        with self._lock:
            self._services[proc.pid] = proc
        try:
            started = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            started = 0.0
        return {"pid": proc.pid, "started": started, "ready_file": str(ready)}

    def service_address(self, handle: Handle) -> tuple[str, int] | None:
        try:
            text = Path(handle["ready_file"]).read_text().strip()
        except OSError:
            return None
        return ("127.0.0.1", int(text)) if text.isdigit() else None

    def service_alive(self, handle: Handle) -> bool:
        with self._lock:
            proc = self._services.get(int(handle["pid"]))
        if proc is not None:
            return proc.poll() is None
        return self._process(handle) is not None

    def stop_service(self, handle: Handle, sig: int) -> None:
        if self.service_alive(handle):
            try:
                os.killpg(int(handle["pid"]), sig)
            except (ProcessLookupError, PermissionError):
                pass
        if sig == signal.SIGKILL:
            with self._lock:
                proc = self._services.pop(int(handle["pid"]), None)
            if proc is not None:
                try:
                    proc.wait(timeout=2)  # reaped: no zombie
                except subprocess.TimeoutExpired:
                    pass
            Path(handle["ready_file"]).unlink(missing_ok=True)
