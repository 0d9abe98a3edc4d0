"""Where mlyard keeps its state, and the environment variables that move it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["home", "database_url", "store_root", "max_upload_bytes", "HOME_ENV"]

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


DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024**3


def max_upload_bytes() -> int:
    """``$MLYARD_MAX_UPLOAD_BYTES``: the largest object the control plane accepts in one upload
    (default 50 GiB; larger uploads are refused with 413)."""
    raw = os.environ.get("MLYARD_MAX_UPLOAD_BYTES")
    if not raw:
        return DEFAULT_MAX_UPLOAD_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"MLYARD_MAX_UPLOAD_BYTES={raw!r} must be a whole number of bytes")
    return value
