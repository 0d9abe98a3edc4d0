"""Packing a training script's source for the control plane: ``source_dir`` or a single
``entry_point``, ``dependencies``, and ``git_config`` (clone, then branch or commit)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import weakref
from pathlib import Path
from typing import Any

from mlyard.errors import ValidationError
from mlyard.store.archive import make_tar

__all__ = ["PackedSource", "checkout_git", "pack_source"]


class PackedSource:
    """A job's code, packed once: the file ``path`` (sent to the store from disk, never read whole
    into memory; stored under its own file name) and the entry point's path in it. A request names
    it as a ``file://`` reference, which ``jobs.submit`` stores by its content (``sources/``):
    nothing is stored under a job's name, so jobs created at once can never swap code. A
    ``temporary`` file (an archive ``pack_source`` made) is removed, with its folder, once this
    object is gone, so a caller keeps it until the request is submitted."""

    def __init__(self, path: Path, program: str, temporary: bool = False) -> None:
        self.path = path
        self.program = program
        if temporary:
            weakref.finalize(self, shutil.rmtree, path.parent, ignore_errors=True)


def checkout_git(git_config: dict[str, Any], into: Path) -> Path:
    """Clone ``git_config["repo"]`` (a URL or a local path) into ``into`` and check out its
    ``branch`` and/or ``commit``; return the work tree."""
    repo = git_config.get("repo")
    if not repo:
        raise ValidationError("git_config needs 'repo': a repository URL or path")
    if shutil.which("git") is None:
        raise ValidationError("git_config needs git, which is not installed")
    tree = into / "repo"
    clone = ["git", "clone", "--quiet"]
    if git_config.get("branch") and not git_config.get("commit"):
        clone += ["--branch", str(git_config["branch"]), "--depth", "1"]
    url = str(repo)
    token = git_config.get("token")
    if token and url.startswith("https://"):
        url = f"https://{token}@{url[len('https://'):]}"
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    proc = subprocess.run([*clone, url, str(tree)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise ValidationError(f"git_config: cannot clone {repo!r}: {proc.stderr.strip()[-500:]}")
    if git_config.get("branch") and git_config.get("commit"):
        _git(tree, ["checkout", "--quiet", str(git_config["branch"])], env, git_config)
    if git_config.get("commit"):
        _git(tree, ["checkout", "--quiet", str(git_config["commit"])], env, git_config)
    return tree


def _git(tree: Path, args: list[str], env: dict[str, str], cfg: dict[str, Any]) -> None:
    proc = subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise ValidationError(f"git_config {cfg.get('repo')!r}: git {' '.join(args)} failed: "
                              f"{proc.stderr.strip()[-500:]}")


def _check_readable(path: Path, what: str) -> None:
    """Every file under ``path`` can be read, and no link leads out of it (the job could not
    follow it: its code is unpacked where the link's target does not exist)."""
    root = path.resolve()
    paths = [path] if not path.is_dir() else [path, *sorted(path.rglob("*"))]
    for p in paths:
        if p.is_symlink():
            target = p.resolve()
            if target != root and root not in target.parents:
                raise ValidationError(f"{what}: {str(p)!r} is a symbolic link to {str(target)!r}, outside the "
                                      "packed source; copy the file in instead of linking it")
            if os.path.isabs(os.readlink(p)):
                raise ValidationError(f"{what}: {str(p)!r} is a symbolic link with an absolute target, which "
                                      "does not exist where the job unpacks its code; make the link relative")
            continue
        if p.is_dir():
            if not os.access(p, os.R_OK | os.X_OK):
                raise ValidationError(f"{what}: folder {str(p)!r} cannot be read; fix its permissions")
        elif p.is_file():
            if not os.access(p, os.R_OK):
                raise ValidationError(f"{what}: file {str(p)!r} cannot be read; fix its permissions")
        else:
            raise ValidationError(f"{what}: {str(p)!r} is not a regular file or folder (a socket, fifo or "
                                  "device cannot be packed); remove it from the source")


def pack_source(entry_point: str, source_dir: str | None, dependencies: list[str] | None,
                git_config: dict[str, Any] | None) -> PackedSource:
    """``sourcedir.tar.gz``, packed into a temporary folder, and the entry point's path inside it."""
    into = Path(tempfile.mkdtemp(prefix="mlyard-src-"))
    try:
        return PackedSource(*_pack(into, entry_point, source_dir, dependencies, git_config), temporary=True)
    except BaseException:
        shutil.rmtree(into, ignore_errors=True)
        raise


def _pack(into: Path, entry_point: str, source_dir: str | None, dependencies: list[str] | None,
          git_config: dict[str, Any] | None) -> tuple[Path, str]:
    with tempfile.TemporaryDirectory(prefix="mlyard-src-") as tmp:
        base = checkout_git(git_config, Path(tmp)) if git_config else Path.cwd()
        entries: list[tuple[Path, str]] = []
        if source_dir:
            src = (base / source_dir).resolve()
            if not src.is_dir():
                raise ValidationError(f"source_dir {source_dir!r} is not a directory"
                                      + (" in the git repository" if git_config else ""))
            if not (src / entry_point).is_file():
                raise ValidationError(f"entry_point {entry_point!r} is not a file in source_dir {str(src)!r}")
            _check_packable("source_dir", src)
            _check_readable(src, "source_dir")
            entries.append((src, ""))
            name = entry_point
        else:
            entry = (base / entry_point).resolve()
            if not entry.is_file():
                raise ValidationError(f"entry_point {entry_point!r} does not exist"
                                      + (" in the git repository" if git_config else f" (looked at {entry})"))
            _check_readable(entry, "entry_point")
            entries.append((entry, entry.name))
            name = entry.name
        for dep in dependencies or []:
            path = (base / dep).resolve()
            if not path.exists():
                raise ValidationError(f"dependency {dep!r} does not exist")
            _check_packable("dependency", path)
            _check_readable(path, f"dependency {dep!r}")
            entries.append((path, path.name))
        return make_tar(into / "sourcedir.tar.gz", entries), name


def _check_packable(what: str, path: Path) -> None:
    """Refuse to pack the whole machine, or kernel and device files (reading some never ends)."""
    text = str(path)
    if text == "/" or any(text == d or text.startswith(d + "/") for d in ("/proc", "/sys", "/dev")):
        raise ValidationError(f"{what} {text!r} is not a project folder: it is the root or a system folder "
                              "(/proc, /sys, /dev). Point it at the folder holding your code.")
