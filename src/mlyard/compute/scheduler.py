"""Admission: which queued jobs start now, given what running jobs hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlyard.compute.instance_types import Resources

__all__ = ["Allocation", "Scheduler"]


@dataclass(frozen=True)
class Allocation:
    per_host: Resources
    hosts: int
    gpu_ids: list[list[int]] | None  # per host; None on a machine without GPUs

    @property
    def total(self) -> Resources:
        return self.per_host.times(self.hosts)

    def to_json(self) -> dict[str, object]:
        return {"cpus": self.per_host.cpus, "memory_mib": self.per_host.memory_mib, "gpus": self.per_host.gpus,
                "hosts": self.hosts, "gpu_ids": self.gpu_ids}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Allocation:
        d: dict[str, Any] = dict(data)
        return cls(Resources(float(d["cpus"]), int(d["memory_mib"]), int(d["gpus"])), int(d["hosts"]), d.get("gpu_ids"))


class Scheduler:
    """First come, first served, with backfill: a queued job starts as soon as what it asks for is
    free; a large job at the head of the queue does not block smaller ones behind it."""

    def __init__(self, capacity: Resources) -> None:
        self.capacity = capacity
        self.running: dict[str, Allocation] = {}

    def free(self) -> Resources:
        used = Resources(0, 0, 0)
        for alloc in self.running.values():
            used = used + alloc.total
        return self.capacity - used

    def _free_gpu_ids(self) -> list[int]:
        taken = {g for a in self.running.values() for ids in (a.gpu_ids or []) for g in ids}
        return [g for g in range(self.capacity.gpus) if g not in taken]

    def try_admit(self, name: str, per_host: Resources, hosts: int) -> Allocation | None:
        if not per_host.times(hosts).fits_in(self.free()):
            return None
        gpu_ids: list[list[int]] | None = None
        if self.capacity.gpus:
            free = self._free_gpu_ids()
            gpu_ids = [free[i * per_host.gpus:(i + 1) * per_host.gpus] for i in range(hosts)]
        alloc = Allocation(per_host, hosts, gpu_ids)
        self.running[name] = alloc
        return alloc

    def hold(self, name: str, alloc: Allocation) -> None:
        """Count an allocation made before a restart."""
        self.running[name] = alloc

    def release(self, name: str) -> None:
        self.running.pop(name, None)
