"""``state.json``: what a runner tells the control plane, written atomically before it acts."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from mlyard.statuses import TERMINAL
from mlyard.store import write_atomic

__all__ = ["StateFile", "read_state", "TERMINAL"]


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"status": "InProgress", "secondary_status": "Starting", "transitions": [],
                                     "runner_pid": os.getpid(), "warnings": []}
        self._lock = threading.Lock()

    def transition(self, status: str, secondary: str, message: str, **fields: Any) -> None:
        """Record a transition; none after the job ended (set-up interrupted by a stop may still be
        reporting from its thread)."""
        with self._lock:
            if self.data["status"] in TERMINAL:
                return
            self.data.update(fields, status=status, secondary_status=secondary)
            self.data["transitions"].append({"status": status, "secondary_status": secondary,
                                             "message": message, "time": time.time()})
            self.write()

    def update(self, **fields: Any) -> None:
        with self._lock:
            self.data.update(fields)
            self.write()

    def write(self) -> None:
        write_atomic(self.path, json.dumps(self.data).encode(), fsync=True)


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None
