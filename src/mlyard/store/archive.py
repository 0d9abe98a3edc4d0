"""tar.gz archives that never write outside their target."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from mlyard.errors import ValidationError

__all__ = ["make_tar", "extract_tar", "check_tar"]


def make_tar(dest: Path, sources: list[tuple[Path, str]], compresslevel: int = 6) -> Path:
    """Write ``dest`` (tar.gz) holding each (path, name-in-archive); directories recursively,
    with an empty name meaning "the directory's contents at the top"."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz", compresslevel=compresslevel) as tar:
        for path, arcname in sources:
            # tarfile stores symlinks as links (never following them); a directory given here
            # must itself be real, or its target's contents would be packed.
            if path.is_dir() and not arcname and not path.is_symlink():
                for child in sorted(path.iterdir()):
                    tar.add(child, arcname=child.name)
            else:
                tar.add(path, arcname=arcname or path.name)
    return dest


def extract_tar(archive: Path, target: Path) -> None:
    """Extract ``archive`` into ``target``; members that would land outside it (absolute paths,
    ``..``, links pointing out, devices) are refused before anything is written."""
    target = target.resolve()
    target.mkdir(parents=True, exist_ok=True)
    tar = _open(archive)
    with tar:
        try:
            members = tar.getmembers()  # reads the whole archive: a truncated one fails here
        except _BROKEN as exc:
            raise _broken(archive, exc) from exc
        for m in members:
            dest = (target / m.name).resolve()
            if dest != target and target not in dest.parents:
                raise ValidationError(f"archive {archive.name} member {m.name!r} escapes the target directory")
            if m.issym() or m.islnk():
                link = (dest.parent / m.linkname).resolve() if m.issym() else (target / m.linkname).resolve()
                if link != target and target not in link.parents:
                    raise ValidationError(f"archive {archive.name} link {m.name!r} points outside the target")
            if m.isdev() or m.isfifo():
                raise ValidationError(f"archive {archive.name} member {m.name!r} is a device or fifo")
        # Into a scratch directory first: what the data filter refuses late (links chained through
        # earlier links) must not leave a half-extracted target behind.
        scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
        try:
            try:
                tar.extractall(scratch, members=members, filter="data")
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise ValidationError(f"archive {archive.name} cannot be extracted safely: {exc}") from exc
            for entry in scratch.iterdir():
                dest = target / entry.name
                if dest.is_dir() and not dest.is_symlink() and entry.is_dir():
                    shutil.copytree(entry, dest, symlinks=True, dirs_exist_ok=True)
                else:
                    os.replace(entry, dest)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


# What reading a corrupted, truncated or non-tar file raises: the user's input, not our defect.
_BROKEN = (tarfile.TarError, OSError, EOFError, zlib.error)


def _broken(archive: Path, exc: BaseException) -> ValidationError:
    if isinstance(exc, PermissionError):
        return ValidationError(f"archive {archive.name} cannot be read: {exc.strerror}; fix its permissions")
    return ValidationError(f"{archive.name} is not a readable tar.gz archive (corrupted, truncated or another "
                           f"format: {exc}); pack it again with 'tar czf'")


def check_tar(archive: Path) -> None:
    """Raise ValidationError unless ``archive`` starts as a readable tar archive (only its start is
    read: a quick check when it is named, before a job reads the whole of it)."""
    with _open(archive) as tar:
        try:
            tar.next()
        except _BROKEN as exc:
            raise _broken(archive, exc) from exc


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except _BROKEN as exc:
        raise _broken(archive, exc) from exc
