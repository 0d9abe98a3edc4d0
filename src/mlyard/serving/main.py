"""One model server in the foreground: ``mlyard serve MODEL_DIR`` (and each endpoint instance)."""

from __future__ import annotations

import gc
import os
import socket
import sys
from pathlib import Path
from typing import Any

from mlyard.compute.executor import SERVICE_HOST, SERVICE_READY
from mlyard.errors import MlyardError
from mlyard.serving.auth import SERVE_TOKEN_ENV, RequireToken

__all__ = ["serve_model", "bind", "bind_unix"]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket with TCP_NODELAY, which accepted connections inherit: a response written
    as headers + body must not wait out the client's delayed ACK (40 ms per kept-alive request)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MlyardError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another port "
                          "(0 picks a free one)") from exc
    sock.listen(1024)
    return sock


def bind_unix(name: str) -> socket.socket:
    """A listening Unix socket; ``@name`` is one in Linux's abstract namespace (no file to clean up)."""
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind("\0" + name[1:] if name.startswith("@") else name)
    except OSError as exc:
        sock.close()
        raise MlyardError(f"cannot listen on the Unix socket {name!r}: {exc.strerror}") from exc
    sock.listen(1024)
    return sock


def serve_model(model_dir: str, host: str = "127.0.0.1", port: int = 8080, max_batch_size: int = 64,
                max_latency_ms: float = 2.0, ready_file: str | None = None, unix_socket: str | None = None) -> None:
    import uvicorn

    from mlyard.serving.app import ModelServer, create_app, create_pipeline_app
    from mlyard.serving.artifacts import PIPELINE_ENV, pipeline_stages
    from mlyard.serving.handlers import load_handler

    # The instance's token (from the endpoint runner) is kept from the model's code, and so is what
    # the executor that started it said: where to listen, where to say which port it took.
    token = os.environ.pop(SERVE_TOKEN_ENV, None)
    given_host = os.environ.pop(SERVICE_HOST, None)
    ready_file = os.environ.pop(SERVICE_READY, None) or ready_file
    if given_host:
        host = given_host
    root = Path(model_dir).resolve()

    def server_of(folder: Path, env: dict[str, str]) -> ModelServer:
        return ModelServer(load_handler(folder, env), name=env.get("SAGEMAKER_TFS_DEFAULT_MODEL_NAME", "model"),
                           max_batch_size=max_batch_size, max_latency_ms=max_latency_ms,
                           max_payload_mb=float(env.get("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6")),
                           default_accept=env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json"))

    if os.environ.pop(PIPELINE_ENV, None):  # a serial inference pipeline: its containers, in order
        servers = [server_of(folder, {**os.environ, **env}) for folder, env in pipeline_stages(root)]
        kind = "pipeline of " + ", ".join(s.handler.kind for s in servers)
    else:
        servers = [server_of(root, dict(os.environ))]
        kind = servers[0].handler.kind
    # Everything loaded so far (TensorFlow and the model: ~350k objects) lives as long as the
    # server: kept out of the garbage collector's scans, full collections take ~2 ms, not ~200 ms
    # of p99 latency.
    gc.collect()
    gc.freeze()
    sock = bind(host, port)
    # An endpoint's router reaches its instances on a Unix socket as well: a request through the
    # router costs two more round trips in the kernel, cheaper there than over loopback TCP.
    sockets = [sock] + ([bind_unix(unix_socket)] if unix_socket else [])
    bound = sock.getsockname()[1]
    print(f"mlyard model server ({kind}) listening on http://{host}:{bound}", file=sys.stderr, flush=True)
    if ready_file:
        Path(ready_file).write_text(str(bound))
    app: Any = create_app(servers[0]) if len(servers) == 1 else create_pipeline_app(servers)
    if token:
        app = RequireToken(app, token, what="model server")
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                  timeout_graceful_shutdown=5)).run(sockets=sockets)
