"""bubblewrap: the job's directory mounted at ``/opt/ml``, and the sandbox for untrusted code.

Without sandboxing a job sees the whole machine, with its own directory mounted at ``/opt/ml``
(so scripts that hard-code SageMaker's paths run unchanged). A sandboxed job also gets no network,
a read-only system, a private ``/tmp``, no view of mlyard's home, its own PID, IPC and UTS
namespaces, a seccomp filter (``seccomp.py``), and runs as an unprivileged user with no
capabilities; its memory, process and CPU limits are held by a control group (``cgroups.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["bwrap_available", "Mounts", "wrap", "INSTALL_HINT", "sandbox_uid", "sandbox_problem", "unreadable",
           "runtime_dirs", "SharedNetwork"]

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


def _opt_binds(read_only: bool) -> list[str]:
    # /opt/ml is created inside the namespace: /opt becomes a tmpfs holding the host's /opt entries
    # (read-only in the sandbox, like the rest of the system).
    if Path("/opt/ml").is_dir():
        return []
    args = ["--tmpfs", "/opt"]
    if Path("/opt").is_dir():
        for entry in sorted(Path("/opt").iterdir()):
            args += ["--ro-bind" if read_only else "--bind", str(entry), str(entry)]
    return args + ["--dir", "/opt/ml"]


def sandbox_uid() -> int | None:
    """The unprivileged user sandboxed jobs run as when mlyard runs as root (``MLYARD_SANDBOX_UID``,
    default 65534, "nobody"); None when mlyard is not root (the job then runs as mlyard's user, in
    a user namespace with no capabilities)."""
    if os.geteuid() != 0:
        return None
    return int(os.environ.get("MLYARD_SANDBOX_UID", "65534"))


class SharedNetwork:
    """A network namespace with nothing but loopback, which the sandboxed hosts of one job on this
    machine share: they reach one another at MASTER_ADDR (as SageMaker's network isolation still
    lets a job's hosts talk), and nothing else. A holder process (bubblewrap running ``cat``, so
    bubblewrap brings loopback up) keeps it; each host enters it with ``nsenter`` before its own
    bubblewrap. Not root, the holder's user namespace owns it, so a host joins that one too. The
    holder ends when its maker does: its input is a pipe only the maker holds (bubblewrap's
    ``--die-with-parent`` would end it with the thread that made it)."""

    def __init__(self) -> None:
        import json
        import tempfile

        exe = shutil.which("bwrap") or "bwrap"
        self.rootless = sandbox_uid() is None
        with tempfile.TemporaryFile() as info:
            args = [exe, "--dev-bind", "/", "/", *(["--unshare-user"] if self.rootless else []), "--unshare-net",
                    "--info-fd", str(info.fileno()), "--", "cat"]
            self.proc = subprocess.Popen(args, pass_fds=(info.fileno(),), stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 10
            while True:
                info.seek(0)
                text = info.read().decode()
                try:
                    self.pid = int(json.loads(text)["child-pid"])
                    break
                except (ValueError, KeyError):
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.poll() is not None and self.proc.stderr else ""
                    self.close()
                    raise OSError(f"could not make the network namespace the job's hosts share: {err.strip()}")
                time.sleep(0.005)

    def enter(self) -> list[str]:
        """The command prefix that runs a command inside the namespace."""
        exe = shutil.which("nsenter") or "nsenter"
        if self.rootless:
            return [exe, "--user", "--net", "--preserve-credentials", "-t", str(self.pid), "--"]
        return [exe, f"--net=/proc/{self.pid}/ns/net", "--"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stderr):
            if pipe:
                pipe.close()


def wrap(cmd: list[str], mounts: Mounts, *, sandbox: bool, hostname: str, chdir: str,
         seccomp_fd: int | None = None, memory_mib: int | None = None, processes: int | None = None,
         network: SharedNetwork | None = None) -> list[str]:
    """The command line that runs ``cmd`` under bubblewrap. A sandboxed command also gets the
    seccomp filter read from ``seccomp_fd`` (which the caller passes on to the child), and, where
    no control group holds the job's limits, per-process limits: ``memory_mib`` of address space
    and ``processes`` for the sandbox user. It gets a network namespace of its own, or joins
    ``network``, which its job's other hosts share."""
    exe = shutil.which("bwrap") or "bwrap"
    if not sandbox:
        args = [exe, "--dev-bind", "/", "/", *_opt_binds(False), "--bind", str(mounts.host_dir), "/opt/ml"]
        for src, dest in mounts.binds:
            args += ["--bind", str(src), dest]
        if mounts.hosts_file:
            args += ["--ro-bind", str(mounts.hosts_file), "/etc/hosts"]
        return [*args, "--die-with-parent", "--chdir", chdir, "--", *cmd]
    args = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--perms", "01777", "--tmpfs", "/tmp",
            "--perms", "01777", "--tmpfs", "/var/tmp", "--tmpfs", "/run", *_opt_binds(True)]
    for gpu in sorted(Path("/dev").glob("nvidia*")):
        args += ["--dev-bind", str(gpu), str(gpu)]
    for hidden in sorted({*mounts.hide, *_private_dirs()}, key=lambda p: len(str(p))):
        args += ["--tmpfs", str(hidden)]
    for secret in _SECRET_FILES:
        if Path(secret).exists():
            args += ["--ro-bind", "/dev/null", secret]
    # Python itself may live under a directory the sandbox empties (a venv under /tmp, say).
    emptied = [Path(p) for p in ("/tmp", "/var/tmp", "/run", *map(str, mounts.hide), *map(str, _private_dirs()))]
    shown = sorted(set(mounts.readable) | {p for p in runtime_dirs() if any(e in p.parents for e in emptied)})
    # The directories leading to them inside an emptied one must let the sandbox user through.
    leading = {a for path in shown for a in path.parents if any(e in a.parents for e in emptied)}
    for directory in sorted(leading, key=lambda a: len(a.parts)):
        args += ["--perms", "0755", "--dir", str(directory)]
    for path in shown:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(mounts.host_dir), "/opt/ml"]
    for src, dest in mounts.binds:
        args += ["--bind", str(src), dest]
    if mounts.hosts_file:
        args += ["--ro-bind", str(mounts.hosts_file), "/etc/hosts"]
    args += [*([] if network else ["--unshare-net"]), "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--hostname", hostname, "--new-session", "--die-with-parent", "--setenv", "HOME", "/tmp", "--chdir", chdir]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    uid = sandbox_uid()
    if uid is None:
        # Not root: bubblewrap makes a user namespace; the job keeps no capability in it and can
        # make no further one.
        args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL", "--", *cmd]
    else:
        # Root: bubblewrap sets up the mounts and namespaces, then setpriv becomes the sandbox user
        # for good (no capabilities, an empty bounding set, no_new_privs) before the job's command.
        args += ["--", shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", *cmd]
    limits = ["prlimit", "--nofile=4096", "--core=0"]
    if processes:
        limits.append(f"--nproc={processes}")
    if memory_mib:
        limits.append(f"--as={memory_mib * 1024 * 1024}")
    return [*limits, "--", *(network.enter() if network else []), *args]


def runtime_dirs() -> set[Path]:
    """Where this Python lives: what every sandboxed job must be able to read."""
    return {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent}


def unreadable(paths: list[Path]) -> list[Path]:
    """Those of ``paths`` the sandbox user cannot read (and enter), judged by their "other" bits,
    when the sandbox runs as a user of its own."""
    if sandbox_uid() is None:
        return []
    bad = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        need = 0o005 if path.is_dir() else 0o004
        if mode & need != need:
            bad.append(path)
    return bad


# What a sandboxed job must not read: people's homes (keys, cloud credentials) and password hashes.
_SECRET_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers")


def _private_dirs() -> list[Path]:
    dirs = [Path("/root"), Path("/home"), Path(os.path.expanduser("~"))]
    return [d for d in dirs if d.is_dir() and d != Path("/")]


@lru_cache(maxsize=1)
def _bwrap_can_disable_userns() -> bool:
    try:
        out = subprocess.run([shutil.which("bwrap") or "bwrap", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--disable-userns" in out.stdout + out.stderr


def sandbox_problem() -> str | None:
    """Why sandboxed jobs cannot run here, or None."""
    if not bwrap_available():
        return f"sandbox=True needs bubblewrap, which is not available here: {INSTALL_HINT}"
    if shutil.which("prlimit") is None or shutil.which("nsenter") is None:
        return ("sandbox=True needs prlimit and nsenter (util-linux) for the job's resource limits and "
                "network; install util-linux")
    if sandbox_uid() is not None and shutil.which("setpriv") is None:
        return "sandbox=True needs setpriv (util-linux) to run jobs as an unprivileged user; install util-linux"
    if sandbox_uid() is None and not _bwrap_can_disable_userns():
        return ("sandbox=True needs bubblewrap 0.8 or newer (for --disable-userns) when mlyard does not run as "
                "root; upgrade bubblewrap, or run the server as root")
    from mlyard.compute.seccomp import seccomp_problem

    return seccomp_problem()
