"""Per-host control groups: a sandboxed host's memory, process count and CPU limits hold for all of
its processes together, and every process it started can be found and killed when it ends.

cgroup v2 is used where this process may create child groups with the controllers enabled (its own
group is the root of a namespace, or delegated); otherwise the v1 hierarchies (``memory``, ``pids``,
``cpu``) mounted under ``/sys/fs/cgroup``. Groups are created under this process's own group, in
``mlyard/``, so a runner inside a container or a systemd slice stays inside its own limits.
"""

from __future__ import annotations

import os
import shlex
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "HostCgroup"]

_CONTROLLERS = ("memory", "pids", "cpu")
_CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None = None
    pids: int | None = None
    cpus: float | None = None


def _mounts() -> tuple[Path | None, dict[str, Path]]:
    """The cgroup v2 mount, and the v1 mount of each controller."""
    v2: Path | None = None
    v1: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None, {}
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        if parts[2] == "cgroup2" and v2 is None:
            v2 = Path(parts[1])
        elif parts[2] == "cgroup":
            for opt in parts[3].split(","):
                if opt in _CONTROLLERS:
                    v1.setdefault(opt, Path(parts[1]))
    return v2, v1


def _own_groups() -> tuple[str | None, dict[str, str]]:
    """This process's group in v2 and in each v1 controller's hierarchy."""
    v2: str | None = None
    v1: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None, {}
    for line in lines:
        hid, controllers, path = line.split(":", 2)
        if hid == "0" and controllers == "":
            v2 = path
        for c in controllers.split(","):
            if c in _CONTROLLERS:
                v1[c] = path
    return v2, v1


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


class HostCgroup:
    """One host's groups (one directory in v2, or one per v1 controller)."""

    def __init__(self, dirs: dict[str, Path], v2: bool) -> None:
        self.dirs = dirs          # controller -> directory (all the same directory in v2)
        self.v2 = v2

    @classmethod
    def create(cls, name: str, limits: Limits) -> tuple[HostCgroup | None, str | None]:
        """A new group for ``name`` with ``limits``; or None and why not (to warn the user)."""
        if os.environ.get("MLYARD_CGROUPS") == "off":
            return None, "MLYARD_CGROUPS=off"
        leaf = f"{name}-{uuid.uuid4().hex[:8]}"
        v2_mount, v1_mounts = _mounts()
        v2_own, v1_own = _own_groups()
        why = "this machine mounts no cgroup hierarchy"
        if v2_mount is not None and v2_own is not None:
            group = cls._create_v2(v2_mount / v2_own.lstrip("/"), leaf)
            if group is not None:
                try:
                    group._apply(limits)
                except OSError as exc:
                    group.remove()
                    return None, f"setting cgroup v2 limits failed ({exc})"
                return group, None
            why = f"cgroup v2 at {v2_mount} has no delegated memory and pids controllers for mlyard"
        dirs: dict[str, Path] = {}
        for c in _CONTROLLERS:
            if c in v1_mounts and c in v1_own:
                _sweep(v1_mounts[c] / v1_own[c].lstrip("/") / "mlyard")
                d = v1_mounts[c] / v1_own[c].lstrip("/") / "mlyard" / leaf
                try:
                    d.mkdir(parents=True)
                except OSError:
                    continue
                dirs[c] = d
        if "memory" in dirs and "pids" in dirs:
            group = cls(dirs, v2=False)
            try:
                group._apply(limits)
            except OSError as exc:
                group.remove()
                return None, f"setting cgroup v1 limits failed ({exc})"
            return group, None
        for d in dirs.values():
            try:
                d.rmdir()
            except OSError:
                pass
        if v1_mounts:
            why = (f"the cgroup v1 memory and pids hierarchies under {next(iter(v1_mounts.values())).parent} "
                   "are not writable by mlyard (run the server as root, or delegate them)")
        return None, why

    @classmethod
    def _create_v2(cls, own: Path, leaf: str) -> HostCgroup | None:
        try:
            available = set((own / "cgroup.controllers").read_text().split())
            if not {"memory", "pids"} <= available:
                return None
            wanted = " ".join(f"+{c}" for c in _CONTROLLERS if c in available)
            parent = own / "mlyard"
            parent.mkdir(exist_ok=True)
            _sweep(parent)
            # Fails (EBUSY) when the own group holds processes and is not a namespace's root.
            _write(own / "cgroup.subtree_control", wanted)
            _write(parent / "cgroup.subtree_control", wanted)
            d = parent / leaf
            d.mkdir()
        except OSError:
            return None
        return cls({c: d for c in _CONTROLLERS if c in available}, v2=True)

    def _apply(self, limits: Limits) -> None:
        mem, pids, cpu = self.dirs.get("memory"), self.dirs.get("pids"), self.dirs.get("cpu")
        if self.v2:
            if mem and limits.memory_bytes:
                _write(mem / "memory.max", str(limits.memory_bytes))
                if (mem / "memory.swap.max").exists():
                    _write(mem / "memory.swap.max", "0")
            if pids and limits.pids:
                _write(pids / "pids.max", str(limits.pids))
            if cpu and limits.cpus:
                _write(cpu / "cpu.max", f"{int(limits.cpus * _CPU_PERIOD_US)} {_CPU_PERIOD_US}")
            return
        if mem and limits.memory_bytes:
            _write(mem / "memory.limit_in_bytes", str(limits.memory_bytes))
            if (mem / "memory.memsw.limit_in_bytes").exists():
                _write(mem / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
        if pids and limits.pids:
            _write(pids / "pids.max", str(limits.pids))
        if cpu and limits.cpus:
            _write(cpu / "cpu.cfs_period_us", str(_CPU_PERIOD_US))
            _write(cpu / "cpu.cfs_quota_us", str(int(limits.cpus * _CPU_PERIOD_US)))

    def wrap(self, cmd: list[str]) -> list[str]:
        """``cmd`` started inside the group: a shell joins it, then execs the command."""
        procs = " ".join(shlex.quote(str(d / "cgroup.procs")) for d in dict.fromkeys(self.dirs.values()))
        script = f'for f in {procs}; do echo $$ > "$f" || exit 125; done; exec "$@"'
        return ["/bin/sh", "-c", script, "mlyard-cgroup", *cmd]

    def pids(self) -> list[int]:
        d = self.dirs.get("pids") or next(iter(self.dirs.values()))
        try:
            return [int(p) for p in (d / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill(self) -> None:
        """SIGKILL every process in the group, including those that left its process group."""
        d = self.dirs.get("pids") or next(iter(self.dirs.values()))
        if self.v2 and (d / "cgroup.kill").exists():
            try:
                _write(d / "cgroup.kill", "1")
                return
            except OSError:
                pass
        for _ in range(50):  # a process may fork while we kill: repeat until the group is empty
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for going over its memory limit."""
        mem = self.dirs.get("memory")
        if mem is None:
            return False
        try:
            text = (mem / ("memory.events" if self.v2 else "memory.oom_control")).read_text()
        except OSError:
            return False
        fields = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
        if int(fields.get("oom_kill", "0")) > 0:
            return True
        if not self.v2:
            try:
                return int((mem / "memory.failcnt").read_text()) > 0 and int(fields.get("under_oom", "0")) > 0
            except (OSError, ValueError):
                return False
        return False

    def remove(self) -> None:
        """Remove the groups, killing what is left in them; processes that are still exiting get
        about two seconds to go (a group that will not go is left to the next sweep)."""
        for d in dict.fromkeys(self.dirs.values()):
            for attempt in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if attempt % 10 == 0:
                        self.kill()
                    time.sleep(0.02)


def _sweep(parent: Path) -> None:
    """Remove groups under ``parent`` that are empty and older than a minute: what runners that
    were killed (SIGKILL gives them no time to clean up) left behind. A group in use is not empty,
    and rmdir refuses it."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    now = time.time()
    for d in entries:
        try:
            if d.is_dir() and now - d.stat().st_mtime > 60 and not (d / "cgroup.procs").read_text().strip():
                d.rmdir()
        except OSError:
            pass
