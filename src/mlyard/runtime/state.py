"""``state.json``: what a runner tells the control plane through its channel, written whole before it acts."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from mlyard.runtime.runner_channel import RunnerChannel
from mlyard.statuses import TERMINAL

__all__ = ["StateFile", "TERMINAL"]


class StateFile:
    def __init__(self, channel: RunnerChannel) -> None:
        self.channel = channel
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
        self.channel.write_state(self.data)
