"""Local inputs of a request, sent to the control plane by their content: a file as itself, a
folder as a deterministic tar (members sorted, times, owners and groups zeroed), so the same
content always has the same SHA-256 and is stored, and uploaded, once."""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mlyard import store
from mlyard.errors import ValidationError

if TYPE_CHECKING:
    from mlyard.client import Client

__all__ = ["tree_tar", "sha256_file", "upload_local"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(store.CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _members(folder: Path, what: str) -> list[tuple[str, Path]]:
    """Every folder and regular file under ``folder`` (relative POSIX name, path to read), sorted.
    A link to a regular file inside the folder is sent as that file's contents; other links and
    special files are refused (the job could not follow them where the folder is stored)."""
    out: list[tuple[str, Path]] = []
    root = folder.resolve()
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted([*dirs, *files]):
            path = Path(top, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                target = path.resolve()
                if target.is_relative_to(root) and target.is_file():
                    out.append((path.relative_to(folder).as_posix(), target))
                    continue
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise ValidationError(f"{what}: {str(path)!r} is a link out of the folder, a link to a folder, or a "
                                      "special file; a local input is uploaded as its regular files and folders: "
                                      "copy the file in instead")
            out.append((path.relative_to(folder).as_posix(), path))
    out.sort(key=lambda m: m[0])
    return out


def tree_tar(folder: Path, dest: Path, what: str = "input") -> str:
    """Write ``folder`` as a deterministic tar to ``dest``; return its SHA-256."""
    members = _members(folder, what)
    if not any(p.is_file() for _, p in members):
        raise ValidationError(f"{what}: {str(folder)!r} is empty (it holds no files); point it at a folder with data")
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in members:
            info = tar.gettarinfo(str(path), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
            if info.isreg():
                try:
                    with path.open("rb") as fh:
                        tar.addfile(info, fh)
                except PermissionError as exc:
                    raise ValidationError(f"{what}: {str(path)!r} cannot be read ({exc.strerror}); fix its "
                                          "permissions") from None
            else:
                tar.addfile(info)
    return sha256_file(dest)


def upload_local(client: Client, uri: str, what: str, code: bool = False) -> str:
    """Store the local file or folder that ``uri`` (``file://``) names by its content, unless the
    server has it already; return the stored URI. ``code``: a job's code (``sources/``)."""
    path = Path(uri[len("file://"):] if uri.startswith("file://") else uri)
    if path.is_file():
        if code:
            return client.upload_source(path, path.name)
        found = client.find_input(sha256_file(path), path.name)
        return found or client.upload_input(path)
    if path.is_dir():
        with tempfile.TemporaryDirectory(prefix="mlyard-input-") as tmp:
            tar = Path(tmp, "input.tar")
            found = client.find_input(tree_tar(path, tar, what))
            return found or client.upload_input_tree(tar)
    state = "is not a regular file" if path.exists() else "does not exist"
    raise ValidationError(f"{what}: the local path {str(path)!r} {state}; point it at a local file or folder "
                          "(it is uploaded when the request is submitted), or at a store URI")
