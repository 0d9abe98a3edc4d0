"""The sandbox's seccomp filter, compiled with libseccomp (through ctypes) for bubblewrap's
``--seccomp FD``.

Everything is allowed except what lets a process reach past its sandbox: mounting, namespaces
(a new user namespace would give it capabilities again), tracing other processes, the kernel's
keyring, BPF, modules, and the machine's clock and identity. Refused calls fail with EPERM;
``clone3`` fails with ENOSYS so that the C library falls back to ``clone``, whose flags the filter
can see.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from functools import lru_cache
from pathlib import Path

__all__ = ["DENIED_SYSCALLS", "seccomp_problem", "write_filter"]

DENIED_SYSCALLS = (
    # file systems and mounts
    "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "open_by_handle_at", "name_to_handle_at", "quotactl", "quotactl_fd",
    "swapon", "swapoff",
    # namespaces
    "unshare", "setns",
    # other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    # the kernel
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module", "reboot", "syslog",
    "acct", "lookup_dcookie", "iopl", "ioperm", "uselib", "vhangup", "nfsservctl", "_sysctl",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # the machine's clock and identity
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
)

_CLONE_NEWUSER = 0x10000000
_ACT_ALLOW = 0x7FFF0000
_SCMP_CMP_MASKED_EQ = 7


def _act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


@lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL | None:
    for name in filter(None, (ctypes.util.find_library("seccomp"), "libseccomp.so.2")):
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(_ArgCmp)]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        return lib
    return None


def seccomp_problem() -> str | None:
    """Why the filter cannot be built here, or None."""
    if _lib() is None:
        return ("sandbox=True needs libseccomp to build the sandbox's system-call filter; install it "
                "(Debian/Ubuntu: apt-get install libseccomp2; Fedora: dnf install libseccomp)")
    return None


def write_filter(path: Path) -> Path:
    """Compile the filter for this machine's architecture into ``path`` (a BPF program)."""
    lib = _lib()
    if lib is None:
        raise RuntimeError(seccomp_problem())
    ctx = lib.seccomp_init(_ACT_ALLOW)
    if not ctx:
        raise OSError(ctypes.get_errno(), "seccomp_init failed")
    try:
        def rule(action: int, name: str, *cmps: _ArgCmp) -> None:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                return  # not a system call on this architecture
            array = (_ArgCmp * max(1, len(cmps)))(*cmps)
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), array)
            if rc < 0:
                raise OSError(-rc, f"seccomp rule for {name} failed: {os.strerror(-rc)}")

        for name in DENIED_SYSCALLS:
            rule(_act_errno(errno.EPERM), name)
        rule(_act_errno(errno.ENOSYS), "clone3")
        rule(_act_errno(errno.EPERM), "clone", _ArgCmp(0, _SCMP_CMP_MASKED_EQ, _CLONE_NEWUSER, _CLONE_NEWUSER))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
        finally:
            os.close(fd)
        if rc < 0:
            raise OSError(-rc, f"exporting the seccomp filter failed: {os.strerror(-rc)}")
    finally:
        lib.seccomp_release(ctx)
    return path
