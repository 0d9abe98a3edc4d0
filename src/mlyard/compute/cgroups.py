"""Per-host control groups: a sandboxed host's memory, process count and CPU limits hold for all of
its processes together, and every process it started can be found and killed when it ends.

cgroup v2 is used where its memory and pids controllers are available to this process's group
(the usual case for root, in a container or not); otherwise the v1 hierarchies (``memory``,
``pids``, ``cpu``) mounted under ``/sys/fs/cgroup``. Groups are created under this process's own
group, in ``mlyard/``, so a runner inside a container or a systemd slice stays inside its own
limits. (On v2 the processes of that group are moved into its leaf ``mlyard-procs`` first: a group
with processes cannot have children with controllers.)
"""

from __future__ import annotations

import errno
import os
import shlex
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "HostCgroup"]

_CONTROLLERS = ("memory", "pids", "cpu")
_PROCS_LEAF = "mlyard-procs"  # cgroup v2: where the processes of mlyard's own group are moved
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
        # Only the real root group may hold processes and enable controllers for its children
        # ("no internal processes"). So the first runner moves the processes of its group (the
        # server, itself, whatever else) into a leaf, ``mlyard-procs``, and enables the controllers
        # on the group; processes started later are born in that leaf, so its parent is the base.
        base = own.parent if own.name == _PROCS_LEAF else own
        try:
            available = set((base / "cgroup.controllers").read_text().split())
            if not {"memory", "pids"} <= available:
                return None
            wanted = " ".join(f"+{c}" for c in _CONTROLLERS if c in available)
            enabled = set((base / "cgroup.subtree_control").read_text().split())
            if not {"memory", "pids"} <= enabled:
                _enable_beside_processes(base, wanted)
            parent = base / "mlyard"
            parent.mkdir(exist_ok=True)
            _sweep(parent)
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


def _enable_beside_processes(group: Path, wanted: str) -> None:
    """Enable ``wanted`` controllers for ``group``'s children, first moving the processes it holds
    into its leaf ``mlyard-procs`` (EBUSY otherwise, unless it is the root)."""
    try:
        _write(group / "cgroup.subtree_control", wanted)
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
    procs_leaf = group / _PROCS_LEAF
    procs_leaf.mkdir(exist_ok=True)
    for _ in range(20):  # processes may fork while they are moved
        pids = (group / "cgroup.procs").read_text().split()
        if not pids:
            break
        for pid in pids:
            try:
                _write(procs_leaf / "cgroup.procs", pid)
            except OSError:
                pass  # it ended meanwhile
    _write(group / "cgroup.subtree_control", wanted)


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
