"""tar.gz archives that never write outside their target."""

from __future__ import annotations

import tarfile
from pathlib import Path

from mlyard.errors import ValidationError

__all__ = ["make_tar", "extract_tar"]


def make_tar(dest: Path, sources: list[tuple[Path, str]], compresslevel: int = 6) -> Path:
    """Write ``dest`` (tar.gz) holding each (path, name-in-archive); directories recursively,
    with an empty name meaning "the directory's contents at the top"."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz", compresslevel=compresslevel) as tar:
        for path, arcname in sources:
            if path.is_dir() and not arcname:
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
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
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
        tar.extractall(target, members=members, filter="data")
