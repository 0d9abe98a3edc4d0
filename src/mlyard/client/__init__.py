"""The HTTP client of the control plane, used by the SDK and the CLI.

With ``MLYARD_URL`` (and ``MLYARD_TOKEN``) it talks to that server. Otherwise it uses the local
server of ``$MLYARD_HOME``, starting one on loopback on first use.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from mlyard import config
from mlyard.errors import AuthenticationError, MlyardError, NotFoundError, ServerUnavailableError, error_for_code

__all__ = ["Client", "default_client", "local_server"]

_START_TIMEOUT = 60.0


def _spawn_server(home: Path, log: Path) -> int:
    """Start ``mlyard server`` detached (its own session), logging to ``log``; return its pid."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)]
        return os.posix_spawn(sys.executable, [sys.executable, "-m", "mlyard", "server", "--port", "0"],
                              {**os.environ, config.HOME_ENV: str(home)}, file_actions=actions, setsid=True)
    finally:
        os.close(fd)


class Client:
    """``reconnect``, when given, finds the server again after a connection failure (the local
    server restarts on another port); the failed request is then retried once."""

    def __init__(self, url: str, token: str, reconnect: Callable[[], tuple[str, str]] | None = None) -> None:
        self._reconnect = reconnect
        self._connect(url, token)

    def _connect(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token
        # TCP_NODELAY: small requests written in two parts must not wait out delayed ACKs (40 ms each).
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx.Timeout(120.0, connect=10.0), transport=transport)

    def close(self) -> None:
        self._http.close()

    # -- plumbing --------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            # A request that never reached a server, or a read that may be repeated, is retried
            # once against the server found again (the local one restarts on a new port).
            retry = isinstance(exc, httpx.ConnectError) or method == "GET"
            if self._reconnect is None or not retry:
                raise ServerUnavailableError(f"cannot reach the mlyard server at {self.url}: {exc}") from exc
            self._http.close()
            self._connect(*self._reconnect())
            content = kwargs.get("content")
            if content is not None and hasattr(content, "seek"):  # a file being sent: from its start again
                content.seek(0)
            try:
                resp = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc2:
                raise ServerUnavailableError(f"cannot reach the mlyard server at {self.url}: {exc2}") from exc2
        _raise_for(resp)
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.content

    def stream(self, path: str, params: dict[str, Any]) -> Iterator[bytes]:
        try:
            with self._http.stream("GET", path, params=params, timeout=httpx.Timeout(None, connect=10.0)) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    _raise_for(resp)
                yield from resp.iter_raw()
        except httpx.TransportError as exc:
            raise ServerUnavailableError(f"lost the mlyard server at {self.url}: {exc}") from exc

    # -- jobs ------------------------------------------------------------------------------------
    def create_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/training-jobs", json=request)

    def create_processing_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/processing-jobs", json=request)

    def create_transform_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/transform-jobs", json=request)

    def describe_job(self, name: str, kind: str | None = None) -> dict[str, Any]:
        """The job's description; with ``kind`` (training, processing, transform), NotFoundError
        unless it is a job of that kind."""
        return self.request("GET", f"/v1/jobs/{_q(name)}", params=_kind(kind))

    def list_jobs(self, kind: str | None = None, status: str | None = None, limit: int = 100,
                  name_contains: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"kind": kind, "status": status, "limit": limit,
                                    "name_contains": name_contains}.items() if v is not None}
        return self.request("GET", "/v1/jobs", params=params)

    def stop_job(self, name: str, kind: str | None = None) -> dict[str, Any]:
        return self.request("POST", f"/v1/jobs/{_q(name)}/stop", params=_kind(kind))

    def wait_job(self, name: str, timeout: float = 20.0, kind: str | None = None) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{_q(name)}/wait", params={"timeout": timeout, **_kind(kind)})

    def job_metrics(self, name: str, metric_name: str | None = None) -> list[dict[str, Any]]:
        params = {"metric_name": metric_name} if metric_name else {}
        return self.request("GET", f"/v1/jobs/{_q(name)}/metrics", params=params)

    def job_logs(self, name: str, follow: bool = False) -> Iterator[bytes]:
        """The job's logs, as the server sends them. A stream lost to a server restart (or a
        dropped connection) is picked up again where it stopped, on the server found again: no
        line is missed or repeated."""
        cursor = _LogCursor()
        lost_since: float | None = None
        while True:
            params = {"follow": str(follow).lower()}
            if cursor.since():
                params["since"] = cursor.since()
            try:
                with self._http.stream("GET", f"/v1/jobs/{_q(name)}/logs", params=params,
                                       timeout=httpx.Timeout(None, connect=10.0)) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        _raise_for(resp)
                    cursor.start(resp.headers.get("mlyard-log-hosts", ""))
                    lost_since = None
                    for chunk in resp.iter_raw():
                        out = cursor.feed(chunk)
                        if out:
                            yield out
                rest = cursor.rest()
                if rest:
                    yield rest
                return
            except httpx.TransportError as exc:
                lost_since = lost_since or time.monotonic()
                if not cursor.resumable() or time.monotonic() - lost_since > _START_TIMEOUT:
                    raise ServerUnavailableError(f"lost the mlyard server at {self.url}: {exc}") from exc
                self._find_again()

    def _find_again(self) -> None:
        """After a lost connection: the server found again (the local one restarted if it must),
        or a pause before the same server is tried again."""
        if self._reconnect is None:
            time.sleep(0.5)
            return
        url, token = self._reconnect()
        self._http.close()
        self._connect(url, token)

    # -- tuning jobs -----------------------------------------------------------------------------
    def create_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/tuning-jobs", json=request)

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/tuning-jobs/{_q(name)}")

    def list_tuning_jobs(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return self.request("GET", "/v1/tuning-jobs", params=params)

    def tuning_training_jobs(self, name: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/v1/tuning-jobs/{_q(name)}/training-jobs")

    def stop_tuning_job(self, name: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/tuning-jobs/{_q(name)}/stop")

    def wait_tuning_job(self, name: str, timeout: float = 20.0) -> dict[str, Any]:
        return self.request("GET", f"/v1/tuning-jobs/{_q(name)}/wait", params={"timeout": timeout})

    # -- models and endpoints --------------------------------------------------------------------
    # -- functions (what workflows' lambda:invoke tasks run) ----------------------------------------
    def put_function(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", f"/v1/functions/{_q(request['FunctionName'])}", json=request)

    def describe_function(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/functions/{_q(name)}")

    def list_functions(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/functions")

    def delete_function(self, name: str) -> None:
        self.request("DELETE", f"/v1/functions/{_q(name)}")

    # -- workflows ------------------------------------------------------------------------------
    def create_workflow(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/workflows", json=request)

    def describe_workflow(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/workflows/{_q(name)}")

    def list_workflows(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/workflows")

    def update_workflow(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", f"/v1/workflows/{_q(name)}", json=request)

    def delete_workflow(self, name: str) -> None:
        self.request("DELETE", f"/v1/workflows/{_q(name)}")

    def start_execution(self, workflow: str, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/v1/workflows/{_q(workflow)}/executions", json=request)

    def list_executions(self, workflow: str, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit} | ({"status": status} if status else {})
        return self.request("GET", f"/v1/workflows/{_q(workflow)}/executions", params=params)

    def describe_execution(self, workflow: str, execution: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/workflows/{_q(workflow)}/executions/{_q(execution)}")

    def wait_execution(self, workflow: str, execution: str, timeout: float = 20.0) -> dict[str, Any]:
        return self.request("GET", f"/v1/workflows/{_q(workflow)}/executions/{_q(execution)}/wait",
                            params={"timeout": timeout}, timeout=timeout + 30)

    def execution_history(self, workflow: str, execution: str, reverse: bool = False,
                          limit: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"reverse": reverse} | ({"limit": limit} if limit else {})
        return self.request("GET", f"/v1/workflows/{_q(workflow)}/executions/{_q(execution)}/history",
                            params=params)

    def stop_execution(self, workflow: str, execution: str, error: str | None = None,
                       cause: str | None = None) -> dict[str, Any]:
        return self.request("POST", f"/v1/workflows/{_q(workflow)}/executions/{_q(execution)}/stop",
                            json={"error": error, "cause": cause})

    def redrive_execution(self, workflow: str, execution: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/workflows/{_q(workflow)}/executions/{_q(execution)}/redrive")

    def lineage(self, uri: str | None = None, arn: str | None = None, depth: int = 20) -> dict[str, Any]:
        params: dict[str, Any] = {"depth": depth} | ({"uri": uri} if uri else {}) | ({"arn": arn} if arn else {})
        return self.request("GET", "/v1/lineage", params=params)

    # -- the model registry -------------------------------------------------------------------------
    def create_model_package_group(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/model-package-groups", json=request)

    def describe_model_package_group(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/model-package-groups/{_q(name)}")

    def list_model_package_groups(self) -> dict[str, Any]:
        return self.request("GET", "/v1/model-package-groups")

    def delete_model_package_group(self, name: str) -> None:
        self.request("DELETE", f"/v1/model-package-groups/{_q(name)}")

    def set_approval_rules(self, group: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return self.request("PUT", f"/v1/model-package-groups/{_q(group)}/approval-rules", json={"Rules": rules})

    def create_model_package(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/model-packages", json=request)

    def describe_model_package(self, name_or_arn: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/model-packages/{_package_path(name_or_arn)}")

    def list_model_packages(self, group: str | None = None, status: str | None = None,
                            order: str = "Descending") -> dict[str, Any]:
        params = {k: v for k, v in (("group", group), ("status", status), ("order", order)) if v}
        return self.request("GET", "/v1/model-packages", params=params)

    def update_model_package(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", "/v1/model-packages", json=request)

    def delete_model_package(self, name_or_arn: str) -> None:
        self.request("DELETE", f"/v1/model-packages/{_package_path(name_or_arn)}")

    # -- SageMaker pipelines (an execution is named by its pipeline and its id) -----------------------
    def create_pipeline(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/pipelines", json=request)

    def update_pipeline(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", f"/v1/pipelines/{_q(name)}", json=request)

    def describe_pipeline(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/pipelines/{_q(name)}")

    def list_pipelines(self) -> dict[str, Any]:
        return self.request("GET", "/v1/pipelines")

    def delete_pipeline(self, name: str) -> dict[str, Any]:
        return self.request("DELETE", f"/v1/pipelines/{_q(name)}")

    def start_pipeline_execution(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/v1/pipelines/{_q(name)}/executions", json=request)

    def list_pipeline_executions(self, name: str, limit: int = 100) -> dict[str, Any]:
        return self.request("GET", f"/v1/pipelines/{_q(name)}/executions", params={"limit": limit})

    def pipeline_execution(self, name: str, execution: str, what: str = "", method: str = "GET",
                           **kwargs: Any) -> dict[str, Any]:
        """``what``: "" (describe), "steps", "wait", "stop" or "retry" (the last two POST)."""
        path = f"/v1/pipelines/{_q(name)}/executions/{_q(execution)}" + (f"/{what}" if what else "")
        return self.request(method, path, **kwargs)

    def create_model(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/models", json=request)

    def describe_model(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/models/{_q(name)}")

    def list_models(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/models")

    def delete_model(self, name: str) -> None:
        self.request("DELETE", f"/v1/models/{_q(name)}")

    def create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/endpoint-configs", json=request)

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/endpoint-configs/{_q(name)}")

    def list_endpoint_configs(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/endpoint-configs")

    def delete_endpoint_config(self, name: str) -> None:
        self.request("DELETE", f"/v1/endpoint-configs/{_q(name)}")

    def create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/endpoints", json=request)

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/endpoints/{_q(name)}")

    def wait_endpoint(self, name: str, timeout: float = 20.0) -> dict[str, Any]:
        return self.request("GET", f"/v1/endpoints/{_q(name)}/wait", params={"timeout": timeout})

    def list_endpoints(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/endpoints")

    def update_endpoint(self, name: str, config_name: str) -> dict[str, Any]:
        return self.request("PUT", f"/v1/endpoints/{_q(name)}", json={"EndpointConfigName": config_name})

    def delete_endpoint(self, name: str) -> None:
        self.request("DELETE", f"/v1/endpoints/{_q(name)}")

    def endpoint_logs(self, name: str) -> Iterator[bytes]:
        return self.stream(f"/v1/endpoints/{_q(name)}/logs", {})

    # -- store -----------------------------------------------------------------------------------
    def upload(self, key: str, data: bytes | Path) -> str:
        """Store ``data`` (bytes, or a file's contents, streamed from disk) under ``key``; return
        the object's URI."""
        return self._put(f"/v1/store/{quote(key, safe='/')}", data)

    def upload_source(self, data: bytes | Path, filename: str) -> str:
        """Store a job's code (bytes, or a file's contents, streamed from disk) by its content
        (``sources/<sha256>/<filename>``, never replaced); return its URI, which the job's create
        request then names."""
        return self._put(f"/v1/sources/{_q(filename)}", data)

    def upload_input(self, path: Path) -> str:
        """Store a local input file by its content (``inputs/files/<sha256>/<file name>``); return its URI."""
        return self._put(f"/v1/inputs/{_q(path.name)}", path)

    def upload_input_tree(self, tar: Path) -> str:
        """Store a local input folder, sent as a tar (``client.uploads.tree_tar``), by the tar's
        content (extracted at ``inputs/trees/<sha256>/``); return its URI."""
        return self._put("/v1/input-trees", tar)

    def find_input(self, sha256: str, filename: str | None = None) -> str | None:
        """The URI of an input already stored with that content (a file's, named ``filename``, or a
        folder's tar's: the server is told which, and finds no other kind), or None."""
        params = {"kind": "file", "filename": filename} if filename else {"kind": "tree"}
        try:
            return str(self.request("GET", f"/v1/inputs/{_q(sha256)}", params=params)["uri"])
        except NotFoundError:
            return None

    def _put(self, path: str, data: bytes | Path) -> str:
        """PUT ``data`` (a file is sent from disk, never read whole) and return the stored URI."""
        if isinstance(data, Path):
            with data.open("rb") as fh:
                return str(self.request("PUT", path, content=fh)["uri"])
        return str(self.request("PUT", path, content=data)["uri"])

    def upload_uri(self, uri: str, data: bytes | Path) -> str:
        """Write ``data`` (bytes, or a file's contents, streamed from disk) as the object ``uri``
        (``s3://bucket/key``: a local bucket's or real S3's); return ``uri``."""
        return self._put(f"/v1/objects?uri={quote(uri, safe='')}", data)

    def list_uri(self, uri: str) -> list[str]:
        """The URIs of every object under the prefix ``uri`` (``s3://bucket/prefix``), recursively."""
        return list(self.request("GET", "/v1/objects", params={"uri": uri})["uris"])

    def create_bucket(self, name: str) -> str:
        """Make ``name`` a bucket the server keeps in its own store; return its root."""
        return str(self.request("PUT", f"/v1/buckets/{_q(name)}")["root"])

    def list_buckets(self) -> dict[str, Any]:
        """``{"default_bucket": name, "buckets": {name: root}}``: the server's local buckets."""
        return dict(self.request("GET", "/v1/buckets"))

    def read_uri(self, uri: str) -> bytes:
        """A (small) object's bytes; ``download`` writes one of any size to a file."""
        return bytes(self.request("POST", "/v1/store-read", json={"uri": uri}))

    def download(self, uri: str, dest: Path) -> Path:
        """Copy the object ``uri`` (in the store, a local bucket or real S3, as the server reads
        it) to the file ``dest``, streamed: the file appears, whole, once every byte has arrived."""
        from mlyard import store

        for attempt in (1, 2):
            try:
                with self._http.stream("POST", "/v1/store-read", json={"uri": uri}) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        _raise_for(resp)
                    with store.ObjectWriter(f"file://{dest.absolute()}") as out:
                        for chunk in resp.iter_bytes(store.CHUNK_SIZE):
                            out.write(chunk)
                return dest
            except httpx.TransportError as exc:
                if self._reconnect is None or attempt == 2:
                    raise ServerUnavailableError(f"lost the mlyard server at {self.url} while reading {uri}: "
                                                 f"{exc}") from exc
                self._http.close()
                self._connect(*self._reconnect())
        raise AssertionError("unreachable")

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/v1/health")


def _kind(kind: str | None) -> dict[str, str]:
    return {"kind": kind} if kind else {}


def _q(segment: str) -> str:
    """A path parameter as one URL path segment, whatever characters it holds."""
    return quote(str(segment), safe="")


class _LogCursor:
    """Where a log stream got to: the bytes of each host's log passed on. With one host the
    stream is the log itself; with several, each line is ``host | line``, and only whole lines
    are passed on (the server resumes each host's log at a line's start)."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.offsets: dict[str, int] = {}
        self._partial = b""
        self._blind = False  # bytes passed on from a server that did not name its hosts

    def start(self, hosts: str) -> None:
        self.hosts = [h for h in hosts.split(",") if h]
        self._partial = b""

    def resumable(self) -> bool:
        return not self._blind

    def since(self) -> str:
        return ",".join(f"{h}:{n}" for h, n in self.offsets.items() if n)

    def feed(self, chunk: bytes) -> bytes:
        if len(self.hosts) <= 1:
            if self.hosts:
                self.offsets[self.hosts[0]] = self.offsets.get(self.hosts[0], 0) + len(chunk)
            else:
                self._blind = True
            return chunk
        data = self._partial + chunk
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        for line in data[:cut - 1].split(b"\n") if cut else []:
            host, sep, rest = line.partition(b" | ")
            name = host.decode(errors="replace")
            if sep and name in self.hosts:
                self.offsets[name] = self.offsets.get(name, 0) + len(rest) + 1
        return data[:cut]

    def rest(self) -> bytes:
        rest, self._partial = self._partial, b""
        return rest


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        body = resp.json()
        err: MlyardError = error_for_code(body.get("error", ""), body.get("message") or resp.text)
    except ValueError:
        err = MlyardError(f"HTTP {resp.status_code}: {resp.text[:500]}")
    if resp.status_code == 401:
        err = AuthenticationError(err.message)
    raise err


def _ping(url: str, token: str) -> bool:
    """The server answers, and runs this client's code (an outdated local server is stopped here:
    its jobs and endpoints keep running, and the caller starts a current one)."""
    import mlyard

    try:
        r = httpx.get(f"{url}/v1/health", headers={"Authorization": f"Bearer {token}"}, timeout=2.0)
    except httpx.TransportError:
        return False
    if r.status_code != 200:
        return False
    if r.json().get("build") != mlyard.build_id():
        _stop_outdated(url, token)
        return False
    return True


def _stop_outdated(url: str, token: str) -> None:
    import signal

    home = config.home()
    info = _read_info(home)
    if not info or info.get("url") != url:
        return
    try:
        os.kill(int(info["pid"]), signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(int(info["pid"]), 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _read_info(home: Path) -> dict[str, Any] | None:
    try:
        return json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return None


def local_server(home: Path) -> tuple[str, str]:
    """URL and token of the local server of ``home``, started (detached, loopback) if needed."""
    from filelock import FileLock

    from mlyard.server.main import ensure_token

    token = ensure_token(home)
    info = _read_info(home)
    if info and _ping(info["url"], token):
        return info["url"], token
    with FileLock(str(home / "server.lock")):
        info = _read_info(home)
        if info and _ping(info["url"], token):
            return info["url"], token
        log = home / "server.log"
        pid = _spawn_server(home, log)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            info = _read_info(home)
            if info and info.get("pid") == pid and _ping(info["url"], token):
                return info["url"], token
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                tail = log.read_text(errors="replace")[-2000:]
                raise ServerUnavailableError(f"the local mlyard server failed to start:\n{tail}")
            time.sleep(0.05)
        os.kill(pid, 9)
        raise ServerUnavailableError(f"the local mlyard server did not start within {_START_TIMEOUT:g}s; "
                                     f"see {log}")


_clients: dict[tuple[str, str], Client] = {}
_lock = threading.Lock()


def default_client() -> Client:
    """The client for this process's configuration (``MLYARD_URL`` or the local server)."""
    url = os.environ.get("MLYARD_URL")
    with _lock:
        if url:
            token = os.environ.get("MLYARD_TOKEN")
            if not token:
                raise AuthenticationError("MLYARD_URL is set but MLYARD_TOKEN is not: set it to the server's token")
        else:
            home = config.home()
            if ("local", str(home)) not in _clients:
                url, token = local_server(home)
                _clients[("local", str(home))] = Client(url, token, reconnect=lambda: local_server(home))
            return _clients[("local", str(home))]
        key = (url, token)
        if key not in _clients:
            _clients[key] = Client(url, token)
        return _clients[key]


def _package_path(name_or_arn: str) -> str:
    """A model package's name in a path: ``group/version`` (from its ARN too), each part quoted."""
    name = name_or_arn.split(":model-package/", 1)[-1]
    return "/".join(_q(part) for part in name.split("/"))
