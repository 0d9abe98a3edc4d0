"""Instance types as resource requests: ``local``, ``local_gpu`` and SageMaker's ``ml.*`` names."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from mlyard.errors import ValidationError

__all__ = ["Resources", "InstanceType", "lookup", "INSTANCE_TYPES"]


@dataclass(frozen=True)
class Resources:
    cpus: float
    memory_mib: int
    gpus: int = 0

    def fits_in(self, other: Resources) -> bool:
        return (self.cpus <= other.cpus + 1e-9 and self.memory_mib <= other.memory_mib
                and self.gpus <= other.gpus)

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpus + other.cpus, self.memory_mib + other.memory_mib, self.gpus + other.gpus)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpus - other.cpus, self.memory_mib - other.memory_mib, self.gpus - other.gpus)

    def times(self, n: int) -> Resources:
        return Resources(self.cpus * n, self.memory_mib * n, self.gpus * n)

    def describe(self) -> str:
        gib = self.memory_mib / 1024
        gpu = f", {self.gpus} GPU" if self.gpus else ""
        cpus = f"{self.cpus:g}"
        return f"{cpus} CPU, {gib:.3g} GiB{gpu}"


@dataclass(frozen=True)
class InstanceType:
    name: str
    resources: Resources
    local: bool = False  # "local"/"local_gpu": sized for a shared workstation, never scaled


# Sizes of SageMaker's ml.* instances: family -> {size: (vCPU, GiB, GPUs)}.
_FAMILIES: dict[str, dict[str, tuple[int, float, int]]] = {
    "t2": {"medium": (2, 4, 0), "large": (2, 8, 0), "xlarge": (4, 16, 0), "2xlarge": (8, 32, 0)},
    "t3": {"medium": (2, 4, 0), "large": (2, 8, 0), "xlarge": (4, 16, 0), "2xlarge": (8, 32, 0)},
    "m4": {"xlarge": (4, 16, 0), "2xlarge": (8, 32, 0), "4xlarge": (16, 64, 0), "10xlarge": (40, 160, 0),
           "16xlarge": (64, 256, 0)},
    "m5": {"large": (2, 8, 0), "xlarge": (4, 16, 0), "2xlarge": (8, 32, 0), "4xlarge": (16, 64, 0),
           "12xlarge": (48, 192, 0), "24xlarge": (96, 384, 0)},
    "m6i": {"large": (2, 8, 0), "xlarge": (4, 16, 0), "2xlarge": (8, 32, 0), "4xlarge": (16, 64, 0),
            "8xlarge": (32, 128, 0), "12xlarge": (48, 192, 0), "16xlarge": (64, 256, 0),
            "24xlarge": (96, 384, 0), "32xlarge": (128, 512, 0)},
    "c4": {"large": (2, 3.75, 0), "xlarge": (4, 7.5, 0), "2xlarge": (8, 15, 0), "4xlarge": (16, 30, 0),
           "8xlarge": (36, 60, 0)},
    "c5": {"large": (2, 4, 0), "xlarge": (4, 8, 0), "2xlarge": (8, 16, 0), "4xlarge": (16, 32, 0),
           "9xlarge": (36, 72, 0), "18xlarge": (72, 144, 0)},
    "r5": {"large": (2, 16, 0), "xlarge": (4, 32, 0), "2xlarge": (8, 64, 0), "4xlarge": (16, 128, 0),
           "12xlarge": (48, 384, 0), "24xlarge": (96, 768, 0)},
    "p2": {"xlarge": (4, 61, 1), "8xlarge": (32, 488, 8), "16xlarge": (64, 732, 16)},
    "p3": {"2xlarge": (8, 61, 1), "8xlarge": (32, 244, 4), "16xlarge": (64, 488, 8)},
    "p3dn": {"24xlarge": (96, 768, 8)},
    "p4d": {"24xlarge": (96, 1152, 8)},
    "p5": {"48xlarge": (192, 2048, 8)},
    "g4dn": {"xlarge": (4, 16, 1), "2xlarge": (8, 32, 1), "4xlarge": (16, 64, 1), "8xlarge": (32, 128, 1),
             "12xlarge": (48, 192, 4), "16xlarge": (64, 256, 1)},
    "g5": {"xlarge": (4, 16, 1), "2xlarge": (8, 32, 1), "4xlarge": (16, 64, 1), "8xlarge": (32, 128, 1),
           "12xlarge": (48, 192, 4), "16xlarge": (64, 256, 1), "24xlarge": (96, 384, 4),
           "48xlarge": (192, 768, 8)},
}

INSTANCE_TYPES: dict[str, InstanceType] = {
    # A local instance is one process on the user's machine: it asks for one CPU and a little
    # memory, so several local jobs (tuning trials, say) share a workstation.
    "local": InstanceType("local", Resources(1, 1024, 0), local=True),
    "local_gpu": InstanceType("local_gpu", Resources(1, 1024, 1), local=True),
}
for _family, _sizes in _FAMILIES.items():
    for _size, (_cpu, _gib, _gpu) in _sizes.items():
        _name = f"ml.{_family}.{_size}"
        INSTANCE_TYPES[_name] = InstanceType(_name, Resources(_cpu, int(_gib * 1024), _gpu))


def lookup(name: str) -> InstanceType:
    try:
        return INSTANCE_TYPES[name]
    except KeyError:
        close = difflib.get_close_matches(name, INSTANCE_TYPES, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValidationError(
            f"unknown instance type {name!r}. Use 'local', 'local_gpu' or a SageMaker ml.* type such "
            f"as 'ml.m5.xlarge'.{hint}") from None
