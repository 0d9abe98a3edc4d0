"""A throwaway MLYARD_HOME for a benchmark: its own local server, stopped at the end."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def isolated_home(root: Path) -> Iterator[Path]:
    home = root / "home"
    os.environ["MLYARD_HOME"] = str(home)
    for var in ("MLYARD_URL", "MLYARD_TOKEN", "MLYARD_DATABASE_URL", "MLYARD_STORE"):
        os.environ.pop(var, None)
    try:
        yield home
    finally:
        info = home / "server.json"
        if info.exists():
            from mlyard.client import default_client

            default_client().close()
            with contextlib.suppress(OSError, ValueError):
                os.kill(json.loads(info.read_text())["pid"], 15)
