"""The artifact store: URIs everywhere, any fsspec filesystem behind them.

``file://`` URIs and plain absolute paths are served with the standard library so that job
runners, which touch the store on every job, do not pay for importing fsspec; every other
scheme goes through fsspec (``s3://`` needs the ``s3`` extra).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mlyard.errors import ValidationError
from mlyard.store.archive import extract_tar, make_tar

__all__ = [
    "local_path",
    "join",
    "check_uri",
    "exists",
    "list_objects",
    "upload_file",
    "upload_bytes",
    "put_if_absent",
    "read_bytes",
    "download",
    "sync_dir_to",
    "make_tar",
    "extract_tar",
]



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

def local_path(uri: str) -> Path | None:
    """The local path a ``file://`` URI or absolute path names, else None."""
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


def _fs(uri: str) -> tuple[Any, str]:
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
    _fs(uri)
    return uri


def exists(uri: str) -> bool:
    path = local_path(uri)
    if path is not None:
        return path.exists()
    fs, p = _fs(uri)
    return bool(fs.exists(p))


def list_objects(uri: str) -> list[tuple[str, str]]:
    """Every object under ``uri`` (a prefix or one object), as (uri, key relative to the prefix),
    sorted by key. A prefix that names a single object yields that object with its base name."""
    path = local_path(uri)
    if path is not None:
        if path.is_file():
            return [(f"file://{path}", path.name)]
        if not path.is_dir():
            return []
        found = sorted(p for p in path.rglob("*") if p.is_file())
        return [(f"file://{p}", p.relative_to(path).as_posix()) for p in found]
    fs, p = _fs(uri)
    if fs.isfile(p):
        return [(uri, p.rsplit("/", 1)[-1])]
    proto = uri.split("://", 1)[0]
    out = []
    for key in sorted(fs.find(p)):
        rel = key[len(p.rstrip("/")) + 1:]
        out.append((f"{proto}://{key}", rel))
    return out


def upload_file(src: Path, uri: str) -> str:
    path = local_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        shutil.copyfile(src, tmp)
        os.replace(tmp, path)
        return uri
    fs, p = _fs(uri)
    fs.put_file(str(src), p)
    return uri


def upload_bytes(data: bytes, uri: str) -> str:
    path = local_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        return uri
    fs, p = _fs(uri)
    with fs.open(p, "wb") as fh:
        fh.write(data)
    return uri


def put_if_absent(data: bytes, uri: str) -> bool:
    """Write ``data`` at ``uri`` unless an object is there already; True if this call wrote it.
    For immutable, content-addressed objects: a reader sees no object or the whole one, and
    writers racing on the same URI (with the same content) never see each other's parts."""
    path = local_path(uri)
    if path is None:
        fs, p = _fs(uri)
        if fs.exists(p):
            return False
        with fs.open(p, "wb") as fh:
            fh.write(data)
        return True
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)  # fails if another writer got there first: its object stays
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def read_bytes(uri: str) -> bytes:
    path = local_path(uri)
    if path is not None:
        return path.read_bytes()
    fs, p = _fs(uri)
    with fs.open(p, "rb") as fh:
        return bytes(fh.read())


def download(uri: str, dest: Path) -> Path:
    """Copy one object to the file ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    path = local_path(uri)
    if path is not None:
        shutil.copyfile(path, dest)
    else:
        fs, p = _fs(uri)
        fs.get_file(p, str(dest))
    return dest


def sync_dir_to(src: Path, uri: str) -> None:
    """Make the prefix ``uri`` hold exactly the files of ``src`` (deletions included)."""
    # Symlinks are skipped: src may be written by a job, and a link could name any file here.
    wanted = {p.relative_to(src).as_posix(): p for p in src.rglob("*") if p.is_file() and not p.is_symlink()}
    for obj_uri, key in list_objects(uri):
        if key not in wanted:
            path = local_path(obj_uri)
            if path is not None:
                path.unlink(missing_ok=True)
            else:
                fs, p = _fs(obj_uri)
                fs.rm(p)
    for key, local in wanted.items():
        upload_file(local, join(uri, key))
