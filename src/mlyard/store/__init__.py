"""The artifact store: URIs everywhere, any fsspec filesystem behind them.

``file://`` URIs and plain absolute paths are served with the standard library so that job
runners, which touch the store on every job, do not pay for importing fsspec; every other
scheme goes through fsspec (``s3://`` needs the ``s3`` extra).

Buckets that mlyard serves itself (see ``mlyard.config.local_buckets``) are resolved first:
``s3://<local bucket>/<key>`` is ``<bucket root>/<key>``, usually a local path, so a notebook's
``s3://`` URIs work with no AWS account. The table is the process's (``set_buckets``): the
server computes it at start and hands it to every runner in its spec.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from mlyard.errors import ValidationError
from mlyard.store.archive import extract_tar, make_tar
from mlyard.uris import split_s3

# The folder of the store that holds content-addressed sources: written only by the sources API.
SOURCES_PREFIX = "sources"
# Clients' local inputs, by their content: a file at inputs/files/<sha256>/<name>, a folder at
# inputs/trees/<sha256 of its tar>/ (apart: a file's folder is never taken for a folder input).
INPUTS_PREFIX = "inputs"
INPUT_FILES = f"{INPUTS_PREFIX}/files"
INPUT_TREES = f"{INPUTS_PREFIX}/trees"

__all__ = [
    "local_path",
    "resolve",
    "set_buckets",
    "buckets",
    "split_s3",
    "join",
    "check_uri",
    "exists",
    "list_objects",
    "upload_file",
    "upload_bytes",
    "read_bytes",
    "ObjectWriter",
    "open_object",
    "CHUNK_SIZE",
    "download",
    "regular_files",
    "set_write_guard",
    "sync_dir_to",
    "make_tar",
    "extract_tar",
]

# What streamed reads and writes move at a time: large enough to keep per-chunk costs small,
# small enough that a transfer's memory does not grow with the object.
CHUNK_SIZE = 1 << 20


def write_atomic(path: Path, data: bytes, mode: int | None = None, fsync: bool = False) -> None:
    """Write ``path`` so that readers see the old file or the whole new one, never a part:
    through a temporary file beside it (created with ``mode``, if given), then a rename."""
    tmp = path.with_name(path.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644 if mode is None else mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)

# Set by a job runner: it writes a job's outputs with more rights than the job's submitter, so
# every local folder it writes into is checked where it really is, at the moment it is written.
_write_guard: Callable[[str], None] | None = None


def set_write_guard(guard: Callable[[str], None] | None) -> None:
    """``guard(real_folder)`` raises if nothing may be written into ``real_folder``."""
    global _write_guard
    _write_guard = guard


def _open_folder(folder: Path) -> int:
    """An O_PATH descriptor of ``folder`` where it really is now, checked by the write guard: what
    is written through it lands there, even if a link is swapped in on the way afterwards."""
    real = os.path.realpath(folder)
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY)
    try:
        for part in [p for p in real.split("/") if p]:
            nxt = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        if _write_guard is not None:
            _write_guard(os.readlink(f"/proc/self/fd/{fd}"))
        return fd
    except BaseException:
        os.close(fd)
        raise


# Local buckets, name -> root URI: ``s3://<name>/<key>`` is ``<root>/<key>``.
_buckets: dict[str, str] = {}


def set_buckets(table: dict[str, str]) -> None:
    """Make ``table`` (bucket name -> root URI) this process's local buckets."""
    global _buckets
    _buckets = {name: root.rstrip("/") for name, root in table.items()}


def buckets() -> dict[str, str]:
    """This process's local buckets (a copy)."""
    return dict(_buckets)


def resolve(uri: str) -> str:
    """``uri`` with a local bucket replaced by its root; any other URI as it is. A key that
    leads out of its bucket (a ``..`` part) is refused."""
    if not uri.startswith("s3://") or not _buckets:
        return uri
    bucket, key = split_s3(uri)
    root = _buckets.get(bucket)
    if root is None:
        return uri
    if ".." in key.split("/"):
        raise ValidationError(f"{uri!r}: a key with a '..' part leads out of the bucket {bucket!r}; name the "
                              "object by its key within the bucket")
    return join(root, key) if key.strip("/") else root


def local_path(uri: str) -> Path | None:
    """The local path a ``file://`` URI, an absolute path or a local bucket's URI names, else None."""
    uri = resolve(uri)
    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    if uri.startswith("/"):
        return Path(uri)
    return None


def join(uri: str, *parts: str) -> str:
    out = uri.rstrip("/")
    for part in parts:
        out += "/" + part.strip("/")
    return out


def filesystem(uri: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``uri`` (a local bucket's resolved first) and the path in it."""
    uri = resolve(uri)
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec is a core dependency
        raise ValidationError(f"cannot open {uri!r}: fsspec is not installed") from exc
    try:
        fs, path = fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        raise ValidationError(
            f"cannot open {uri!r}: {exc}. For s3:// URIs install mlyard with the 's3' extra."
        ) from exc
    return fs, path


def check_uri(uri: str) -> str:
    """``uri`` if this store can write there (a known scheme, an absolute path); else a clear error."""
    path = local_path(uri)
    if path is not None:
        if not path.is_absolute():
            raise ValidationError(f"{uri!r} must be an absolute path or URI")
        return uri
    if "://" not in uri:
        raise ValidationError(f"{uri!r} is not a URI; use file:///abs/path or a store URI such as s3://bucket/x")
    filesystem(uri)
    return uri


def exists(uri: str) -> bool:
    path = local_path(uri)
    if path is not None:
        return path.exists()
    fs, p = filesystem(uri)
    return bool(fs.exists(p))


def list_objects(uri: str) -> list[tuple[str, str]]:
    """Every object under ``uri`` (a prefix or one object), as (uri, key relative to the prefix),
    sorted by key. A prefix that names a single object yields that object with its base name.
    The URIs are spelled as ``uri`` is: a local bucket's objects as ``s3://`` URIs."""
    resolved = resolve(uri)
    if resolved == uri:
        return _list_objects(uri)
    path = local_path(resolved)
    itself = {resolved.rstrip("/"), f"file://{path}"}
    return [(uri.rstrip("/") if obj in itself else join(uri, key), key) for obj, key in _list_objects(resolved)]


def _list_objects(uri: str) -> list[tuple[str, str]]:
    path = local_path(uri)
    if path is not None:
        if path.is_file():
            return [(f"file://{path}", path.name)]
        if not path.is_dir():
            return []
        found = sorted(p for p in path.rglob("*") if p.is_file())
        return [(f"file://{p}", p.relative_to(path).as_posix()) for p in found]
    fs, p = filesystem(uri)
    if fs.isfile(p):
        return [(uri.rstrip("/"), p.rsplit("/", 1)[-1])]
    proto = uri.split("://", 1)[0]
    out = []
    for key in sorted(fs.find(p)):
        rel = key[len(p.rstrip("/")) + 1:]
        out.append((f"{proto}://{key}", rel))
    return out


def upload_file(src: Path, uri: str, beneath: Path | None = None) -> str | None:
    """Upload the file ``src`` as ``uri``. With ``beneath`` (a folder a job writes in, while the
    caller has more rights than the job), ``src`` is opened from ``beneath`` down following no
    link, and only a regular file is read: a file the job swapped for a link, or for a FIFO, is
    skipped (None)."""
    if beneath is not None:
        from mlyard.store.paths import _open_beneath

        try:
            fd = _open_beneath(str(beneath), os.path.relpath(src, beneath), os.O_RDONLY | os.O_NONBLOCK)
        except (OSError, ValidationError):
            return None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return _upload_stream(fh, uri)
    with src.open("rb") as fh:
        return _upload_stream(fh, uri)


def _upload_stream(fh: IO[bytes], uri: str) -> str:
    if local_path(uri) is not None:
        with ObjectWriter(uri) as out:
            shutil.copyfileobj(fh, out, CHUNK_SIZE)
        return uri
    fs, p = filesystem(uri)
    with fs.open(p, "wb") as dest:
        shutil.copyfileobj(fh, dest, CHUNK_SIZE)
    return uri


def upload_bytes(data: bytes, uri: str) -> str:
    if local_path(uri) is not None:
        with ObjectWriter(uri) as out:
            out.write(data)
        return uri
    fs, p = filesystem(uri)
    with fs.open(p, "wb") as fh:
        fh.write(data)
    return uri


class ObjectWriter:
    """Writes one object in pieces: it appears whole on ``commit()``, never in part, and
    ``abort()`` (or leaving a ``with`` block by an exception) leaves nothing behind.

    A local object is written to a temporary file, then renamed into place: in ``tmp_dir`` when
    given and on the object's file system (so a process killed mid-write litters nothing inside
    the store), else beside the object under a hidden name. Other stores get the object in one
    upload of a local temporary file (in ``tmp_dir`` or the system's), which is atomic there.

    ``by_content``: the object is named by its content and immutable. ``uri`` (``<folder>/<name>``)
    says where: the object goes to ``<folder>/<sha256>/<name>``, the SHA-256 of the bytes taken as
    they are written, unless an object is there already (it stays: writers racing on one content
    never replace one another's object nor see its parts). ``commit`` returns the URI written."""

    def __init__(self, uri: str, tmp_dir: Path | None = None, *, by_content: bool = False) -> None:
        self.uri = uri
        self.size = 0
        self._sha256 = hashlib.sha256() if by_content else None
        path = local_path(uri)
        if path is not None:
            if not by_content and path.is_dir():  # refused before any byte is taken, not after the last
                raise IsADirectoryError(21, "Is a directory", str(path))
            if _write_guard is not None:
                _check_folder(path.parent)  # before any folder or file is made there
            path.parent.mkdir(parents=True, exist_ok=True)
            where = path.parent
            if tmp_dir is not None:
                tmp_dir.mkdir(parents=True, exist_ok=True)
                if os.stat(tmp_dir).st_dev == os.stat(where).st_dev:
                    where = tmp_dir
            fd, tmp = tempfile.mkstemp(dir=where, prefix=f".{path.name}.", suffix=".partial")
        else:
            filesystem(uri)  # an unusable URI fails before any byte is taken
            if tmp_dir is not None:
                tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="upload-", suffix=".partial")
        self._tmp = Path(tmp)
        self._fh: IO[bytes] = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        if self._sha256 is not None:
            self._sha256.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str | None:
        """With ``by_content``, the hex SHA-256 of the bytes written so far."""
        return None if self._sha256 is None else self._sha256.hexdigest()

    def commit(self) -> str:
        try:
            self._fh.close()
            if self._sha256 is not None:
                folder, _, name = self.uri.rpartition("/")
                self.uri = join(folder, self._sha256.hexdigest(), name)
            path = local_path(self.uri)
            if path is not None:
                os.chmod(self._tmp, 0o644)
                if self._sha256 is None:
                    dirfd = _open_folder(path.parent)
                    try:
                        os.replace(self._tmp, path.name, dst_dir_fd=dirfd)
                    finally:
                        os.close(dirfd)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with contextlib.suppress(FileExistsError):  # there already (the same bytes): it stays
                        os.link(self._tmp, path)
            else:
                fs, p = filesystem(self.uri)
                if self._sha256 is None or not fs.exists(p):
                    fs.put_file(str(self._tmp), p)
        finally:
            self._tmp.unlink(missing_ok=True)
        return self.uri

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _check_folder(folder: Path) -> None:
    """The write guard's verdict on ``folder`` (or on its nearest existing parent)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    os.close(_open_folder(existing))


def open_object(uri: str) -> tuple[IO[bytes], int]:
    """One object opened for reading, and its size in bytes (to read it in pieces)."""
    path = local_path(uri)
    if path is not None:
        fh: IO[bytes] = path.open("rb")
        try:
            size = os.fstat(fh.fileno()).st_size
        except OSError:
            fh.close()
            raise
        return fh, size
    fs, p = filesystem(uri)
    size = int(fs.size(p))
    return fs.open(p, "rb"), size


def read_bytes(uri: str) -> bytes:
    path = local_path(uri)
    if path is not None:
        return path.read_bytes()
    fs, p = filesystem(uri)
    with fs.open(p, "rb") as fh:
        return bytes(fh.read())


def download(uri: str, dest: Path) -> Path:
    """Copy one object to the file ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    path = local_path(uri)
    if path is not None:
        shutil.copyfile(path, dest)
    else:
        fs, p = filesystem(uri)
        fs.get_file(p, str(dest))
    return dest


def regular_files(top: Path) -> list[Path]:
    """The regular files under ``top``, found without following links; a folder a job writes in
    may change while it is walked (what vanishes is left out, nothing raises)."""
    found = []
    for dirpath, _dirnames, filenames in os.walk(top):  # os.walk neither follows links nor raises
        for name in filenames:
            path = Path(dirpath) / name
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    found.append(path)
            except OSError:
                pass
    return sorted(found)


def sync_dir_to(src: Path, uri: str, beneath: Path | None = None) -> None:
    """Make the prefix ``uri`` hold exactly the files of ``src`` (deletions included); files are
    read as ``upload_file`` reads them with ``beneath``."""
    wanted = {p.relative_to(src).as_posix(): p for p in regular_files(src)}
    for obj_uri, key in list_objects(uri):
        if key not in wanted:
            path = local_path(obj_uri)
            if path is not None:
                folder = _open_folder(path.parent)
                try:
                    os.unlink(path.name, dir_fd=folder)
                except FileNotFoundError:
                    pass
                finally:
                    os.close(folder)
            else:
                fs, p = filesystem(obj_uri)
                fs.rm(p)
    for key, local in wanted.items():
        upload_file(local, join(uri, key), beneath)
