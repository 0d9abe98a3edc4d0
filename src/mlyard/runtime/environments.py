"""Python environments for a job's ``requirements.txt``, cached by the file's hash.

An environment is a venv whose site-packages also sees mlyard's own (through a ``.pth`` file),
so a job keeps TensorFlow and friends while what it installs lands in the cached environment,
never in mlyard's.
"""

from __future__ import annotations

import hashlib
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

__all__ = ["InstallRequirementsError", "ensure_env"]


class InstallRequirementsError(Exception):
    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def _parent_site_dirs() -> list[str]:
    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    return list(dict.fromkeys(d for d in dirs if Path(d).is_dir()))


def env_key(requirements: bytes) -> str:
    h = hashlib.sha256()
    h.update(sys.version.encode())
    h.update(sys.prefix.encode())
    h.update(requirements)
    return h.hexdigest()[:16]


def _venv_site(env: Path) -> Path:
    return env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def ensure_env(requirements: Path, cache: Path, log: Path) -> Path:
    """The python of the environment for ``requirements`` (building it on first use)."""
    from filelock import FileLock

    key = env_key(requirements.read_bytes())
    env = cache / key
    ready = env / ".mlyard-ready"
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / f"{key}.lock")):
        if not ready.exists():
            shutil.rmtree(env, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True,
                           capture_output=True)
            site_dir = _venv_site(env)
            site_dir.mkdir(parents=True, exist_ok=True)
            (site_dir / "_mlyard_parent.pth").write_text("\n".join(_parent_site_dirs()) + "\n")
            cmd = [sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install",
                   "--disable-pip-version-check", "--no-input", "-r", str(requirements)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=requirements.parent)
            with log.open("a") as fh:
                fh.write(proc.stdout + proc.stderr)
            if proc.returncode != 0:
                shutil.rmtree(env, ignore_errors=True)
                raise InstallRequirementsError(
                    f"pip install -r requirements.txt failed with exit code {proc.returncode}",
                    (proc.stdout + proc.stderr)[-2000:])
            ready.write_text(requirements.read_text())
    return env / "bin" / "python"
