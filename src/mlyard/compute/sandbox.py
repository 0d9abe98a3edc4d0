"""bubblewrap: the job's directory mounted at ``/opt/ml``, and the sandbox for untrusted code.

Without sandboxing a job sees the whole machine, with its own directory mounted at ``/opt/ml``
(so scripts that hard-code SageMaker's paths run unchanged). A sandboxed job also gets no network,
a read-only system, a private ``/tmp``, no view of mlyard's home, and resource limits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["bwrap_available", "Mounts", "wrap", "INSTALL_HINT"]

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
                "bubblewrap) so mlyard can mount the job's directory at /opt/ml")


@lru_cache(maxsize=1)
def bwrap_available() -> bool:
    """bubblewrap is installed and can create a mount namespace here (``MLYARD_NO_BWRAP=1`` turns
    it off)."""
    if os.environ.get("MLYARD_NO_BWRAP") == "1":
        return False
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    try:
        probe = subprocess.run([exe, "--bind", "/", "/", "--", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


@dataclass
class Mounts:
    host_dir: Path                      # mounted at /opt/ml
    hosts_file: Path | None = None      # mounted at /etc/hosts (algo-N names)
    hide: list[Path] = field(default_factory=list)       # sandbox: replaced by an empty tmpfs
    readable: list[Path] = field(default_factory=list)   # sandbox: re-exposed read-only under hidden dirs
    binds: list[tuple[Path, str]] = field(default_factory=list)  # (directory, path inside): more writable mounts


def _opt_binds() -> list[str]:
    # /opt/ml is created inside the namespace: /opt becomes a tmpfs holding the host's /opt entries.
    if Path("/opt/ml").is_dir():
        return []
    args = ["--tmpfs", "/opt"]
    if Path("/opt").is_dir():
        for entry in sorted(Path("/opt").iterdir()):
            args += ["--bind", str(entry), str(entry)]
    return args + ["--dir", "/opt/ml"]


def wrap(cmd: list[str], mounts: Mounts, *, sandbox: bool, hostname: str, chdir: str,
         memory_mib: int | None = None) -> list[str]:
    """The command line that runs ``cmd`` under bubblewrap."""
    exe = shutil.which("bwrap") or "bwrap"
    if not sandbox:
        args = [exe, "--dev-bind", "/", "/", *_opt_binds(), "--bind", str(mounts.host_dir), "/opt/ml"]
        for src, dest in mounts.binds:
            args += ["--bind", str(src), dest]
        if mounts.hosts_file:
            args += ["--ro-bind", str(mounts.hosts_file), "/etc/hosts"]
        return [*args, "--die-with-parent", "--chdir", chdir, "--", *cmd]
    args = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            "--tmpfs", "/var/tmp", "--tmpfs", "/run", *_opt_binds()]
    for gpu in sorted(Path("/dev").glob("nvidia*")):
        args += ["--dev-bind", str(gpu), str(gpu)]
    for hidden in sorted({*mounts.hide, *_private_dirs()}, key=lambda p: len(str(p))):
        args += ["--tmpfs", str(hidden)]
    for secret in _SECRET_FILES:
        if Path(secret).exists():
            args += ["--ro-bind", "/dev/null", secret]
    # Python itself may live under a directory the sandbox empties (a venv under /tmp, say).
    emptied = [Path(p) for p in ("/tmp", "/var/tmp", "/run", *map(str, mounts.hide), *map(str, _private_dirs()))]
    runtime = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent}
    for path in sorted(set(mounts.readable) | {p for p in runtime if any(e in p.parents for e in emptied)}):
        args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(mounts.host_dir), "/opt/ml"]
    for src, dest in mounts.binds:
        args += ["--bind", str(src), dest]
    if mounts.hosts_file:
        args += ["--ro-bind", str(mounts.hosts_file), "/etc/hosts"]
    args += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", hostname,
             "--new-session", "--die-with-parent", "--setenv", "HOME", "/tmp", "--chdir", chdir, "--", *cmd]
    limits = ["prlimit", "--nofile=4096", "--core=0", "--nproc=4096"]
    if memory_mib:
        limits.append(f"--as={memory_mib * 1024 * 1024}")
    return [*limits, "--", *args]


# What a sandboxed job must not read: people's homes (keys, cloud credentials) and password hashes.
_SECRET_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers")


def _private_dirs() -> list[Path]:
    dirs = [Path("/root"), Path("/home"), Path(os.path.expanduser("~"))]
    return [d for d in dirs if d.is_dir() and d != Path("/")]


def sandbox_problem() -> str | None:
    """Why sandboxed jobs cannot run here, or None."""
    if not bwrap_available():
        return f"sandbox=True needs bubblewrap, which is not available here: {INSTALL_HINT}"
    if shutil.which("prlimit") is None:
        return "sandbox=True needs prlimit (util-linux) to set the job's resource limits; install util-linux"
    return None
