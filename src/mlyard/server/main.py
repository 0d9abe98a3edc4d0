"""Running the control plane: ``mlyard server`` (and the SDK's automatic local start)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path

from mlyard import config
from mlyard.errors import MlyardError
from mlyard.store import write_atomic

__all__ = ["serve", "ensure_token"]


def ensure_token(home: Path) -> str:
    """The token clients must send: ``$MLYARD_TOKEN``, else ``$MLYARD_HOME/token`` (created, 0600)."""
    if os.environ.get("MLYARD_TOKEN"):
        return os.environ["MLYARD_TOKEN"]
    path = home / "token"
    if not path.exists():
        # Written in full under another name, then linked into place: a concurrent reader never
        # sees a half-written token, and of two racing writers the first one wins.
        tmp = home / f".token-{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    os.chmod(path, 0o600)
    return path.read_text().strip()


def serve(host: str = "127.0.0.1", port: int = 0, executor: str | None = None, ray_address: str | None = None) -> None:
    import uvicorn
    from filelock import FileLock, Timeout

    from mlyard.catalog import Catalog
    from mlyard.compute.executor import create_executor
    from mlyard.server.app import create_app
    from mlyard.server.control import ControlPlane
    from mlyard.serving.main import bind

    home = config.home()
    try:
        chosen = create_executor(executor, ray_address)  # before anything else: a wrong choice is one clear line
    except MlyardError as exc:
        raise SystemExit(f"mlyard server: {exc.message}") from exc
    # One control plane per home: two would both start the queued jobs.
    lock = FileLock(str(home / "server.pid.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        chosen.close()
        raise SystemExit(f"mlyard server: another server already runs for {home} "
                         f"(see {home / 'server.json'}); use it, or stop it first.") from None
    token = ensure_token(home)
    # Store uploads a killed server left half-written (the store itself never sees them).
    shutil.rmtree(home / "uploads", ignore_errors=True)
    catalog = Catalog(config.database_url(home))
    catalog.migrate()
    control = ControlPlane(home, catalog, config.store_root(home), chosen)
    control.start()
    app = create_app(control, token)

    try:
        sock = bind(host, port)
    except MlyardError as exc:
        raise SystemExit(f"mlyard server: {exc.message}") from exc
    bound = sock.getsockname()[1]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{bound}"
    info = home / "server.json"
    write_atomic(info, json.dumps({"url": url, "pid": os.getpid()}).encode(), mode=0o600)
    print(f"mlyard server listening on {url} (token in {home / 'token'})", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=3))
    try:
        server.run(sockets=[sock])
    finally:
        control.shutdown()
        catalog.dispose()
        lock.release()
        try:
            if json.loads(info.read_text()).get("pid") == os.getpid():
                info.unlink()
        except (OSError, ValueError):
            pass
