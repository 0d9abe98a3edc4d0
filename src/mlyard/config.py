"""Where mlyard keeps its state, and the environment variables that move it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["home", "database_url", "store_root", "HOME_ENV"]

HOME_ENV = "MLYARD_HOME"


def home() -> Path:
    """``$MLYARD_HOME``, default ``~/.mlyard``; created with mode 0700."""
    path = Path(os.environ.get(HOME_ENV) or "~/.mlyard").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def database_url(base: Path | None = None) -> str:
    """``$MLYARD_DATABASE_URL``, default a SQLite file in the home."""
    url = os.environ.get("MLYARD_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{(base or home()) / 'catalog.db'}"


def store_root(base: Path | None = None) -> str:
    """``$MLYARD_STORE`` (any fsspec URI), default ``file://<home>/store``."""
    url = os.environ.get("MLYARD_STORE")
    if url:
        return url.rstrip("/")
    root = (base or home()) / "store"
    root.mkdir(parents=True, exist_ok=True)
    return f"file://{root}"
