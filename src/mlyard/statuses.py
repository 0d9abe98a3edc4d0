"""Job statuses that the SDK, the control plane and runners all read. Standard library only."""

from __future__ import annotations

__all__ = ["TERMINAL"]

# The statuses a job (training, processing, transform, tuning) never leaves.
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
