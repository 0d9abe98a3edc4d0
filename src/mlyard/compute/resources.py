"""What this machine has, and how a job's request is fitted to it."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from mlyard.compute.instance_types import InstanceType, Resources
from mlyard.errors import ValidationError

__all__ = ["machine", "detect_gpus", "fit_request", "Fitted"]


def detect_gpus() -> int:
    """GPUs named by ``nvidia-smi --list-gpus`` (0 without the tool)."""
    if "MLYARD_GPUS" in os.environ:
        return int(os.environ["MLYARD_GPUS"])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


@lru_cache(maxsize=1)
def machine() -> Resources:
    """The machine's capacity. ``MLYARD_CPUS``, ``MLYARD_MEMORY_MIB`` and ``MLYARD_GPUS`` override
    detection (to reserve part of a shared server, say)."""
    import psutil

    cpus = float(os.environ.get("MLYARD_CPUS") or len(os.sched_getaffinity(0)))
    mem = int(os.environ.get("MLYARD_MEMORY_MIB") or psutil.virtual_memory().total // (1024 * 1024))
    return Resources(cpus, mem, detect_gpus())


@dataclass(frozen=True)
class Fitted:
    per_host: Resources
    warning: str | None


def fit_request(itype: InstanceType, count: int, capacity: Resources, node: Resources | None = None,
                elastic: bool = False) -> Fitted:
    """The per-host resources a job of ``count`` hosts of ``itype`` gets here. A request larger than
    the machine (``capacity``), or than one host can have (``node``: the largest machine of a
    cluster; the machine itself by default), is scaled down (with a warning) so notebooks written for
    cloud instances still run. A GPU that ``local_gpu`` needs and no node has is an error on a
    machine; on a cluster whose nodes come and go (``elastic``) the job waits for one."""
    want = itype.resources
    node = node or capacity
    if want.gpus and not capacity.gpus and itype.local:
        if elastic:
            return Fitted(want, f"instance type {itype.name!r} needs a GPU and the cluster has none now: the job "
                          "waits until a node with a GPU joins (or use instance_type='local')")
        raise ValidationError(
            f"instance type {itype.name!r} needs a GPU and this machine has none (nvidia-smi finds "
            "no GPU); use instance_type='local'.")
    total = want.times(count)
    if total.fits_in(capacity) and want.fits_in(node):
        return Fitted(want, None)
    cpus = min(want.cpus, capacity.cpus / count, node.cpus)
    mem = min(want.memory_mib, capacity.memory_mib // count, node.memory_mib)
    gpus = min(want.gpus, capacity.gpus // count, node.gpus)
    fitted = Resources(cpus, mem, gpus)
    where = (f"this machine has {capacity.describe()} in all" if node == capacity else
             f"the cluster has {capacity.describe()} in all, at most {node.describe()} on one node")
    warning = (
        f"{count} x {itype.name} asks for {want.describe()} per instance but {where}: running scaled down "
        f"to {fitted.describe()} per instance.")
    if want.gpus and not gpus:
        warning += " No GPU is left for it: it runs on the CPU."
    return Fitted(fitted, warning)
