"""The local executor: each runner is a detached process on this machine."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil

from mlyard.compute.executor import Executor, RunnerHandle

__all__ = ["LocalExecutor"]


class LocalExecutor(Executor):
    def __init__(self) -> None:
        self._children: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def start(self, job_dir: Path, env: dict[str, str]) -> RunnerHandle:
        with (job_dir / "runner.log").open("ab") as log:
            # A new session: the runner is not in the server's process group, so it outlives the server.
            proc = subprocess.Popen([sys.executable, "-m", "mlyard.runtime.runner", str(job_dir)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                    start_new_session=True, close_fds=True)
        with self._lock:
            self._children.append(proc)
        try:
            started = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            started = 0.0
        return RunnerHandle(proc.pid, started)

    def reap(self) -> None:
        """Collect exit statuses of runners this process started (no zombies)."""
        with self._lock:
            self._children = [p for p in self._children if p.poll() is None]

    def _process(self, handle: RunnerHandle) -> psutil.Process | None:
        try:
            proc = psutil.Process(handle.pid)
            if handle.started and abs(proc.create_time() - handle.started) > 0.5:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    def alive(self, handle: RunnerHandle) -> bool:
        self.reap()
        return self._process(handle) is not None

    def stop(self, handle: RunnerHandle) -> None:
        proc = self._process(handle)
        if proc is not None:
            try:
                proc.send_signal(signal.SIGTERM)
            except psutil.Error:
                pass
