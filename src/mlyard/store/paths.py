"""Which local folders a job may read its inputs and code from, and reading them without being
led elsewhere by links or special files.

A job's local sources (``file://`` channels, processing and transform inputs, model data, its
submitted code) are read by the job's runner outside any sandbox, so they must never name the
server's own files (``$MLYARD_HOME``: token, catalog) nor system and credential folders. The
rule (:class:`SourcePolicy`) is checked when a job, a model or an endpoint is created, and again
by the runner when it copies, where links are never followed out of the source's folder and
devices, FIFOs and sockets are never opened.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlyard.errors import ValidationError
from mlyard.store import INPUTS_PREFIX, SOURCES_PREFIX, local_path, resolve, set_write_guard

__all__ = ["ALLOWED_ROOTS_ENV", "SourcePolicy", "check_characters", "check_links", "list_files", "copy_file",
           "read_file", "copy_tree"]

ALLOWED_ROOTS_ENV = "MLYARD_ALLOWED_ROOTS"

# Never a job's source, whatever MLYARD_ALLOWED_ROOTS says: the system's folders...
_SYSTEM = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin", "/sys",
           "/usr", "/var/backups", "/var/lib", "/var/log", "/var/mail", "/var/run", "/var/spool")
# ... and, in the home of the user the server runs as, the folders and files that hold credentials.
_SECRETS = (".ssh", ".aws", ".gnupg", ".kube", ".docker", ".azure", ".config/gcloud", ".config/gh", ".netrc",
            ".pgpass", ".pypirc", ".git-credentials", ".mlyard", ".bash_history", ".python_history", ".zsh_history",
            ".cache/huggingface", ".huggingface", ".kaggle", ".databrickscfg", ".terraform.d")


# The store's folders of content-addressed objects, written only by their own APIs, never replaced:
# what each holds.
_IMMUTABLE = {SOURCES_PREFIX: "holds jobs' code", INPUTS_PREFIX: "holds the inputs clients uploaded"}


def check_characters(what: str, uri: str) -> str:
    """``uri`` unless it holds a NUL byte or another control character (no path or URI of a
    request may: the OS would refuse it, or read it as something else); else a ValidationError
    naming ``what``."""
    if not isinstance(uri, str):
        raise ValidationError(f"{what}: {uri!r} is not a URI")
    bad = next((c for c in uri if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ValidationError(f"{what}: {uri!r} holds the control character {bad!r}; URIs and paths may not "
                              "hold control characters")
    return uri


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(frozen=True)
class SourcePolicy:
    """``denied``: folders no source may lie in or contain; ``allowed``: when set, the only
    folders sources may lie in; ``store``: the store's local root, always allowed (even inside
    the server's home), as is ``buckets``, the folder of the local buckets (``<home>/buckets``)."""

    denied: tuple[str, ...]
    allowed: tuple[str, ...] | None = None
    store: str | None = None
    store_uri: str | None = None
    buckets: str | None = None

    @classmethod
    def from_environment(cls, home: Path, store_root: str) -> SourcePolicy:
        """The server's rule: ``$MLYARD_ALLOWED_ROOTS`` (folders separated by ``os.pathsep``)
        if set, else anywhere outside the denied folders."""
        denied = {*_SYSTEM, str(home)}
        homes = []
        try:
            homes.append(Path.home())
        except RuntimeError:  # no home directory for this user
            pass
        if os.geteuid() == 0:  # a root server reads everyone's files: keep every user's credentials out
            homes.append(Path("/root"))
            try:
                homes += [h for h in Path("/home").iterdir() if h.is_dir()]
            except OSError:
                pass
        denied.update(str(h / s) for h in homes for s in _SECRETS)
        denied.update([os.path.realpath(d) for d in denied])
        store = None
        if (store_path := local_path(store_root)) is not None:
            store = os.path.realpath(store_path)
        raw = os.environ.get(ALLOWED_ROOTS_ENV, "")
        allowed = None
        if raw.strip():
            roots = [r for r in raw.split(os.pathsep) if r.strip()]
            for r in roots:
                if not os.path.isabs(r):
                    raise ValidationError(f"{ALLOWED_ROOTS_ENV}: {r!r} is not an absolute path; list absolute "
                                          f"folders separated by {os.pathsep!r}")
            allowed = tuple(sorted({os.path.realpath(r) for r in roots}))
        return cls(tuple(sorted(denied)), allowed, store, store_root.rstrip("/"),
                   os.path.realpath(home / "buckets"))

    def to_json(self) -> dict[str, Any]:
        return {"denied": list(self.denied), "allowed": None if self.allowed is None else list(self.allowed),
                "store": self.store, "store_uri": self.store_uri, "buckets": self.buckets}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourcePolicy:
        allowed = data.get("allowed")
        return cls(tuple(data.get("denied") or ()), None if allowed is None else tuple(allowed), data.get("store"),
                   data.get("store_uri"), data.get("buckets"))

    def problem(self, path: str, contains: bool = True) -> str | None:
        """Why the local path ``path`` may not be read as a source (None if it may). ``path`` is
        resolved first: a link to a denied folder is as denied as the folder."""
        real = os.path.realpath(path)
        for root in (self.store, self.buckets):
            if root is not None and _inside(real, root) and not any(_inside(d, real) for d in self.denied):
                return None
        for d in self.denied:
            if _inside(real, d):
                return f"it lies in {d}, which jobs may not read"
            if contains and _inside(d, real):
                return f"it contains {d}, which jobs may not read"
        if self.allowed is not None and not any(_inside(real, a) for a in self.allowed):
            return (f"it is outside the folders this server allows ({os.pathsep.join(self.allowed)}, set by "
                    f"{ALLOWED_ROOTS_ENV}) and outside the store")
        return None

    def check(self, what: str, uri: str) -> Path | None:
        """Raise ValidationError if ``uri`` is a local path that ``what`` may not read, or a folder
        with a link leading out of it; return its resolved local path (None for other URIs)."""
        check_characters(what, uri)
        path = local_path(uri)
        if path is None:
            return None
        raw = str(path)
        problem = self.problem(raw)
        if problem:
            raise ValidationError(f"{what}: {uri!r} cannot be read by jobs: {problem}. Put the data in a folder "
                                  f"of its own (or in the store), or ask the server's operator to allow its "
                                  f"folder with {ALLOWED_ROOTS_ENV}.")
        real = Path(os.path.realpath(raw))
        if real.exists() and not (real.is_dir() or real.is_file()):
            raise ValidationError(f"{what}: {uri!r} is not a regular file or a folder (a device, FIFO or socket); "
                                  "jobs only read regular files")
        bad = check_links(real)
        if bad is not None:
            raise ValidationError(f"{what}: {uri!r} holds a link {bad!r} that leads out of it; jobs do not follow "
                                  "links out of their sources. Copy the file it points to into the folder instead.")
        return real


    def check_destination(self, what: str, uri: str, contains: bool = True) -> str:
        """Raise ValidationError if ``uri`` is a local folder jobs' outputs may not be written to:
        the same rule as for sources (the runner writes outputs with the server's rights, so an
        output into /etc or mlyard's home would be a write the job itself could not make), and
        never inside the store's content-addressed ``sources/`` and ``inputs/`` (what other jobs
        run and read), whatever the URI's form. Return ``uri``. A local bucket's URI is judged
        where it lies (the default bucket is the store)."""
        check_characters(what, uri)
        if self.store_uri and not self.store:
            resolved = posixpath.normpath(resolve(uri))
            for prefix, holds in _IMMUTABLE.items():
                if _inside(resolved, posixpath.normpath(f"{self.store_uri}/{prefix}")):
                    raise ValidationError(f"{what}: {uri!r} cannot be written by jobs: the store's {prefix}/ "
                                          f"folder {holds}, which nothing overwrites. Write outputs elsewhere.")
        path = local_path(uri)
        if path is not None:
            problem = self.problem(str(path), contains)  # ``contains``: what is written may go anywhere below
            real = os.path.realpath(path)
            for prefix, holds in _IMMUTABLE.items():
                folder = os.path.join(self.store, prefix) if self.store else None
                if folder and _inside(real, folder) and not problem:  # the store's root itself is fine
                    problem = f"the store's {prefix}/ folder {holds}, which nothing overwrites"
            if problem:
                raise ValidationError(f"{what}: {uri!r} cannot be written by jobs: {problem}. Write outputs to a "
                                      f"folder of their own (or to the store), or ask the server's operator to "
                                      f"allow its folder with {ALLOWED_ROOTS_ENV}.")
        return uri

    def guard_writes(self) -> None:
        """Make this process's local store writes check, at the moment they happen, that the
        folder they really land in may be written (see ``store.set_write_guard``): a destination
        allowed at create may since have been swapped for a link."""

        def guard(real: str) -> None:  # a file goes into this very folder: only where it lies counts
            self.check_destination("a job's output", real, contains=False)

        set_write_guard(guard)


def check_links(root: Path) -> str | None:
    """The first link under the folder ``root`` (relative to it) whose target lies outside it."""
    if not root.is_dir():
        return None
    top = str(root)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full) and not _inside(os.path.realpath(full), top):
                return os.path.relpath(full, top)
    return None


class _Escape(ValidationError):
    pass


def _open_beneath(root: str, rel: str, flags: int) -> int:
    """Open ``root/rel`` following no link on the way: each component is opened with O_NOFOLLOW
    from the one above, so a link put in place after a check makes the open fail (ELOOP)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        parts = [p for p in rel.split("/") if p and p != "."]
        if ".." in parts:
            raise _Escape(f"{rel!r} leads out of {root}")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = os.open(part, (flags if last else os.O_RDONLY | os.O_DIRECTORY) | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def list_files(root: Path, policy: SourcePolicy | None = None) -> list[str]:
    """The regular files under the folder ``root`` (keys relative to it, sorted), links that stay
    inside it included. Devices, FIFOs and sockets are left out; a link leading out of ``root``,
    or a ``root`` that ``policy`` does not allow, raises ValidationError."""
    top = os.path.realpath(root)
    if policy is not None and (problem := policy.problem(top)):
        raise ValidationError(f"{root} cannot be read by jobs: {problem}")
    keys = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in list(dirnames):
            full = os.path.join(dirpath, name)
            # os.walk does not descend into a linked folder: its files are not listed
            if os.path.islink(full) and not _inside(os.path.realpath(full), top):
                raise _Escape(f"{os.path.relpath(full, top)!r} in {root} is a link that leads out of it; "
                                  "jobs do not follow links out of their sources")
        for name in filenames:
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                target = os.path.realpath(full)
                if not _inside(target, top):
                    raise _Escape(f"{os.path.relpath(full, top)!r} in {root} is a link that leads out of it; "
                                  "jobs do not follow links out of their sources")
                try:
                    st = os.stat(target, follow_symlinks=False)
                except OSError:
                    continue
            if stat.S_ISREG(st.st_mode):
                keys.append(os.path.relpath(full, top))
    return sorted(keys)


def _open_regular(root: Path, key: str, policy: SourcePolicy | None) -> int:
    """A file descriptor of the regular file ``root/key``. A link is followed only to a file
    inside ``root``, and once resolved the path is opened following no link at all; anything but
    a regular file, or a file ``policy`` does not allow, raises ValidationError."""
    top = os.path.realpath(root)
    target = os.path.realpath(os.path.join(top, key))
    if not _inside(target, top) or target == top:
        raise _Escape(f"{key!r} leads out of {root}; jobs do not follow links out of their sources")
    if policy is not None and (problem := policy.problem(target)):
        raise ValidationError(f"{os.path.join(root, key)} cannot be read by jobs: {problem}")
    try:
        # From / down, with no link followed: the file opened is the one at ``target``, in ``root``.
        fd = _open_beneath("/", target, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _Escape(f"{key!r} in {root} changed into a link while it was read; it was not followed") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValidationError(f"{key!r} in {root} is not a regular file (a device, FIFO or socket); "
                              "jobs only read regular files")
    return fd


def copy_file(root: Path, key: str, dest: Path, policy: SourcePolicy | None = None) -> Path:
    """Copy the regular file ``root/key`` to ``dest`` (see _open_regular)."""
    with os.fdopen(_open_regular(root, key, policy), "rb") as src:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".partial")
        with open(tmp, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
            os.fchmod(out.fileno(), 0o644 | (os.fstat(src.fileno()).st_mode & 0o111))  # scripts stay executable
        os.replace(tmp, dest)
    return dest


def read_file(root: Path, key: str, policy: SourcePolicy | None = None) -> bytes:
    """The bytes of the regular file ``root/key`` (see _open_regular)."""
    with os.fdopen(_open_regular(root, key, policy), "rb") as src:
        return src.read()


def copy_tree(root: Path, dest: Path, policy: SourcePolicy | None = None) -> None:
    """Copy the regular files under ``root`` into ``dest`` (see list_files and copy_file)."""
    for key in list_files(root, policy):
        copy_file(root, key, dest / key, policy)
