"""The endpoint runner: ``python -m mlyard.serving.endpoint ENDPOINT_DIR``.

One detached process per endpoint (it outlives the control plane's restarts). It starts the
instances of every production variant (each a model server process on its own loopback port),
routes requests arriving on the endpoint's one port to them by variant weight, health-checks them
and restarts the ones that die (while one is down its traffic goes to the others), rolls to a new
configuration on SIGHUP without failing requests, captures data, and stops everything on SIGTERM.
It reports through ``state.json`` in its directory. The requests themselves go through
``serving/proxy.py`` (why it is a proxy of its own, not an ASGI app, is said there); a variant's
instance is chosen by weight, then the one with the fewest requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import os
import random
import secrets
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mlyard import store
from mlyard.compute.executor import Executor, Handle, Service, create_executor
from mlyard.compute.instance_types import Resources, lookup
from mlyard.errors import ValidationError
from mlyard.runtime.runner import job_environment
from mlyard.runtime.runner_channel import RunnerChannel
from mlyard.runtime.state import StateFile
from mlyard.serving.artifacts import materialize_containers
from mlyard.serving.auth import SERVE_TOKEN_ENV, new_token
from mlyard.serving.capture import DataCapture
from mlyard.serving.proxy import Pool, Proxy
from mlyard.store.paths import SourcePolicy

__all__ = ["main"]

_READY_TIMEOUT = float(os.environ.get("MLYARD_ENDPOINT_READY_TIMEOUT", "180"))
_TIMEOUT = float(os.environ.get("MLYARD_ENDPOINT_TIMEOUT", "60"))  # an instance's time to answer a request


@dataclass
class Instance:
    variant: str
    index: int
    model_dir: Path
    env: dict[str, str]
    log: Path
    executor: Executor
    resources: Resources
    handle: Handle | None = None  # the executor's, while started
    host: str = "127.0.0.1"       # where it listens (its node's address on a cluster)
    port: int | None = None
    healthy: bool = False
    inflight: int = 0
    restarts: int = 0
    next_start: float = 0.0
    pool: Pool = field(default_factory=Pool)  # the router's kept-alive connections to it
    unix_socket: str | None = None  # where the router reaches it (its port is for everyone else)

    def start(self, endpoint: str, generation: int, batch: dict[str, Any]) -> None:
        """Start the instance's model server through the executor (a process here, or on a node of
        the cluster); its address is known once it says so (``address``). Called off the event loop:
        the caller closes the router's connections to it (``pool``) first, on the loop."""
        # On this machine, under Linux: a socket in the abstract namespace as well (nothing to clean
        # up); the router reaches the instance there, cheaper than over loopback TCP.
        self.unix_socket = (f"@mlyard-{secrets.token_hex(12)}"
                            if sys.platform == "linux" and self.executor.same_machine else None)
        args = [sys.executable, "-m", "mlyard", "serve", str(self.model_dir), "--port", "0",
                "--max-batch-size", str(batch.get("max_batch_size", 64)),
                "--max-latency-ms", str(batch.get("max_latency_ms", 2.0))]
        if self.unix_socket:
            args += ["--unix-socket", self.unix_socket]
        name = f"{endpoint}-{self.variant}-{self.index + 1}-g{generation}-r{self.restarts}"
        self.handle = self.executor.start_service(Service(name, args, job_environment(self.env), str(self.log),
                                                          self.resources, files=str(self.model_dir)))
        self.port, self.healthy = None, False

    def address(self) -> tuple[str, int] | None:
        return self.executor.service_address(self.handle) if self.handle is not None else None

    def alive(self) -> bool:
        return self.handle is not None and self.executor.service_alive(self.handle)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """(Off the event loop: see ``start``.)"""
        if self.handle is not None:
            self.executor.stop_service(self.handle, sig)

    def to_json(self) -> dict[str, Any]:
        handle = self.handle or {}
        return {"variant": self.variant, "index": self.index, "pid": handle.get("pid"), "node": handle.get("node_id"),
                "address": self.host, "port": self.port, "healthy": self.healthy, "restarts": self.restarts,
                "handle": self.handle}  # kept from describe(); the server stops it with it if this runner is gone


@dataclass
class Routing:
    """Which instances serve which variant, and the variants' weights."""

    variants: dict[str, list[Instance]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    cursor: dict[str, itertools.count[int]] = field(default_factory=dict)

    def pick(self, target: str | None) -> Instance | None:
        """A healthy instance: of ``target`` if given, else of a variant drawn by weight among
        those with one; of the variant's, the one with the fewest requests in flight (ties in turn)."""
        if target is not None:
            name = target
        elif len(self.variants) == 1:
            name = next(iter(self.variants))
        else:
            names = [v for v, insts in self.variants.items() if any(i.healthy for i in insts)]
            if not names:
                return None
            weights = [max(self.weights.get(v, 1.0), 0.0) for v in names]
            name = random.choices(names, weights=weights)[0] if sum(weights) > 0 else names[0]
        insts = self.variants.get(name)
        if not insts:
            return None
        counter = self.cursor.get(name)
        if counter is None:
            counter = self.cursor[name] = itertools.count()
        n = len(insts)
        first = next(counter) % n
        best = None
        for k in range(n):
            inst = insts[(first + k) % n]
            if inst.healthy and (best is None or inst.inflight < best.inflight):
                best = inst
        return best

    def all(self) -> list[Instance]:
        return [i for insts in self.variants.values() for i in insts]


class EndpointRunner:
    def __init__(self, endpoint_dir: Path) -> None:
        self.dir = endpoint_dir
        self.spec: dict[str, Any] = json.loads((endpoint_dir / "spec.json").read_text())
        store.set_buckets(self.spec.get("Buckets") or {})  # before any URI is touched
        self.name = self.spec["EndpointName"]
        self.state = StateFile(RunnerChannel(endpoint_dir))
        self.routing = Routing()
        self.work = endpoint_dir / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        (endpoint_dir / "logs").mkdir(exist_ok=True)
        self.capture: DataCapture | None = None
        self.stopping = asyncio.Event()
        self.reload = asyncio.Event()
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))  # health checks only
        self.proxy: Proxy | None = None
        self.generation = 0
        self._draining: set[asyncio.Task[None]] = set()  # old configurations' instances, being stopped
        # With an endpoint token, instances get a token of their own, which only this router sends.
        self.instance_token = new_token() if self.spec.get("Token") else None
        # Instances start through the control plane's executor (on a cluster: on any node of it).
        executor = self.spec.get("Executor") or {"name": "local"}
        self.executor = create_executor(executor["name"], executor.get("address"), warm=False)
        if self.spec.get("Sources"):
            SourcePolicy.from_json(self.spec["Sources"]).guard_writes()  # captured data, written as root

    # -- instances -------------------------------------------------------------------------------
    def _model_dir(self, variant: dict[str, Any], generation: int) -> tuple[Path, dict[str, str]]:
        target = self.dir / "models" / f"{variant['VariantName']}-{generation}"
        sources = self.spec.get("Sources")
        try:
            return target, materialize_containers(variant["Containers"], target, self.work,
                                                  SourcePolicy.from_json(sources) if sources else None)
        except ValidationError as exc:  # model files the endpoint may not read
            raise RuntimeError(f"variant {variant['VariantName']!r}: {exc}") from exc

    async def _stop(self, insts: list[Instance], sig: int) -> None:
        """Stop ``insts``: the router's connections to them first (on the loop), then the executor's
        calls (off it: on a cluster they are remote calls)."""
        for inst in insts:
            inst.pool.close()
        def stop_all() -> None:
            for inst in insts:
                inst.stop(sig)

        await asyncio.to_thread(stop_all)

    async def _stop_gracefully(self, insts: list[Instance], grace: float = 10.0) -> None:
        """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL (which also releases what the
        executor holds for them)."""
        await self._stop(insts, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(await asyncio.to_thread(lambda: [i.alive() for i in insts])):
            await asyncio.sleep(0.1)
        await self._stop(insts, signal.SIGKILL)

    async def _start_variants(self, spec: dict[str, Any], generation: int) -> Routing:
        routing = Routing()
        try:
            return await self._start_into(routing, spec, generation)
        except BaseException:
            # None of this configuration's instances may outlive it.
            await asyncio.shield(self._stop(routing.all(), signal.SIGKILL))
            raise

    async def _start_into(self, routing: Routing, spec: dict[str, Any], generation: int) -> Routing:
        batch = spec.get("Batching") or {}
        for variant in spec["ProductionVariants"]:
            model_dir, env = await asyncio.to_thread(self._model_dir, variant, generation)
            if self.instance_token:
                env[SERVE_TOKEN_ENV] = self.instance_token
            resources = await asyncio.to_thread(self._resources, variant)
            insts = [Instance(variant["VariantName"], i, model_dir, env,
                              self.dir / "logs" / f"{variant['VariantName']}-{i + 1}.log", self.executor, resources)
                     for i in range(int(variant.get("InitialInstanceCount", 1)))]
            routing.variants[variant["VariantName"]] = insts
            for inst in insts:
                await asyncio.to_thread(inst.start, self.name, generation, batch)
            routing.weights[variant["VariantName"]] = float(variant.get("InitialVariantWeight", 1.0))
        deadline = time.monotonic() + _READY_TIMEOUT
        for inst in routing.all():
            await self._wait_ready(inst, deadline)
        return routing

    def _resources(self, variant: dict[str, Any]) -> Resources:
        """What one instance of ``variant`` is given: its instance type's, within the largest node."""
        want = lookup(str(variant.get("InstanceType") or "local")).resources
        node = self.executor.largest_node(want)
        return Resources(min(want.cpus, node.cpus), min(want.memory_mib, node.memory_mib), min(want.gpus, node.gpus))

    async def _wait_ready(self, inst: Instance, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not await asyncio.to_thread(inst.alive):
                tail = inst.log.read_text(errors="replace")[-1500:] if inst.log.exists() else ""
                raise RuntimeError(f"instance {inst.variant}/{inst.index + 1} of model {inst.model_dir.name} "
                                   f"exited while starting:\n{tail.strip()}")
            address = await asyncio.to_thread(inst.address)
            if address is not None:
                inst.host, inst.port = address
                try:
                    r = await self.client.get(f"http://{_url_host(inst.host)}:{inst.port}/ping", timeout=2.0)
                    if r.status_code == 200:
                        inst.healthy = True
                        return
                except httpx.TransportError:
                    pass
            await asyncio.sleep(0.05)
        raise RuntimeError(f"instance {inst.variant}/{inst.index + 1} did not become ready in {_READY_TIMEOUT:g}s")

    async def _health(self) -> None:
        """Restart instances that died; take ones failing /ping out of rotation."""
        while not self.stopping.is_set():
            for inst in self.routing.all():
                if inst not in self.routing.all():
                    continue  # replaced by a rolling update meanwhile: never restart it
                try:
                    alive = await asyncio.to_thread(inst.alive)
                except Exception:  # the executor did not answer (a cluster's hiccup): asked again next round
                    traceback.print_exc()
                    continue
                if not alive and not self.stopping.is_set():
                    inst.healthy = False
                    if time.monotonic() < inst.next_start:
                        continue  # crashing again and again: back off (1, 2, 4 ... 30 s)
                    inst.next_start = time.monotonic() + min(2.0 ** inst.restarts, 30.0)
                    inst.restarts += 1
                    try:
                        await self._stop([inst], signal.SIGKILL)  # what the executor held for it
                        await asyncio.to_thread(inst.start, self.name, self.generation, self.spec.get("Batching") or {})
                    except Exception as exc:  # no room on the cluster now, say: tried again after the back-off
                        self._write_state("InService", f"instance {inst.variant}/{inst.index + 1} failed to restart: "
                                          f"{exc}")
                        continue
                    self._write_state("InService", f"restarted instance {inst.variant}/{inst.index + 1}")
                    asyncio.get_running_loop().create_task(self._revive(inst))
                elif inst.port is not None and alive:
                    try:
                        r = await self.client.get(f"http://{_url_host(inst.host)}:{inst.port}/ping", timeout=2.0)
                        inst.healthy = r.status_code == 200
                    except httpx.TransportError:
                        inst.healthy = False
            try:
                await asyncio.wait_for(self.stopping.wait(), 0.5)
            except asyncio.TimeoutError:
                pass

    async def _revive(self, inst: Instance) -> None:
        try:
            await self._wait_ready(inst, time.monotonic() + _READY_TIMEOUT)
            self._write_state("InService", f"instance {inst.variant}/{inst.index + 1} is back")
        except Exception as exc:  # it exited, or the executor failed: the health check tries again
            self._write_state("InService", f"instance {inst.variant}/{inst.index + 1} failed to restart: {exc}")

    # -- routing (what the proxy asks) -------------------------------------------------------------
    def pick(self, target: str | None) -> Instance | None:
        return self.routing.pick(target)

    def has_variant(self, name: str) -> bool:
        return name in self.routing.variants

    def any_healthy(self) -> bool:
        return any(i.healthy for i in self.routing.all())

    # -- lifecycle --------------------------------------------------------------------------------
    def _write_state(self, status: str, message: str, **fields: Any) -> None:
        self.state.transition(status, status, message, instances=[i.to_json() for i in self.routing.all()],
                              runner_pid=os.getpid(), **fields)

    async def _update(self) -> None:
        """Roll to the spec on disk: start the new instances, switch traffic, drain the old ones."""
        self.generation += 1
        new_spec = json.loads((self.dir / "spec.json").read_text())
        store.set_buckets(new_spec.get("Buckets") or {})
        self._write_state("Updating", "Starting the new configuration's instances")
        try:
            routing = await self._start_variants(new_spec, self.generation)
        except Exception as exc:  # an instance did not start, or no room for it on the cluster
            self._write_state("InService", f"update failed, the previous configuration keeps serving: {exc}",
                              failure_reason=f"update failed: {exc}", failed_config=new_spec["EndpointConfigName"])
            return
        old, self.routing, self.spec = self.routing, routing, new_spec
        self._configure_capture()
        deadline = time.monotonic() + 30
        while any(i.inflight for i in old.all()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self._stop(old.all(), signal.SIGTERM)
        self._draining.add(loop_task := asyncio.get_running_loop().create_task(self._stop_gracefully(old.all())))
        loop_task.add_done_callback(self._draining.discard)
        self._write_state("InService", "Updated to the new configuration", failure_reason=None,
                          config=self.spec["EndpointConfigName"], failed_config=None)

    def _configure_capture(self) -> None:
        cfg = self.spec.get("DataCaptureConfig") or {}
        if self.capture is not None:
            self.capture.close()
            self.capture = None
        if cfg.get("EnableCapture"):
            self.capture = DataCapture(self.name, cfg, self.dir / "capture")
        if self.proxy is not None:
            self.proxy.max_body = _max_payload(self.spec)

    async def run(self) -> None:
        from mlyard.serving.main import bind

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload.set)
        self._write_state("Creating", "Starting the endpoint's instances")
        try:
            host = self.spec.get("Host") or "127.0.0.1"
            sock = bind(host, int(self.spec.get("Port") or 0))
            self.routing = await self._start_variants(self.spec, self.generation)
        except Exception as exc:
            await self._stop(self.routing.all(), signal.SIGKILL)
            reason = f"ClientError: {exc.message}" if isinstance(exc, ValidationError) else str(exc)
            self._write_state("Failed", "The endpoint failed to start", failure_reason=reason[:2000])
            return
        self.proxy = proxy = Proxy(self, self.spec.get("Token"), self.instance_token, _max_payload(self.spec), _TIMEOUT)
        self._configure_capture()
        port = sock.getsockname()[1]
        server = await loop.create_server(proxy.connection, sock=sock, backlog=1024)
        proxy.start()
        # What is loaded by now lives as long as the runner: kept out of the collector's full scans,
        # which would otherwise stall every request in flight for milliseconds now and then.
        gc.collect()
        gc.freeze()
        health = loop.create_task(self._health())
        self._write_state("InService", "The endpoint is serving", url=f"http://{_url_host(host)}:{port}", port=port,
                          config=self.spec["EndpointConfigName"])
        while not self.stopping.is_set():
            waiters = [loop.create_task(self.stopping.wait()), loop.create_task(self.reload.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            if self.reload.is_set() and not self.stopping.is_set():
                self.reload.clear()
                await self._update()
        self._write_state("Deleting", "Stopping the endpoint")
        await proxy.shutdown(server)
        health.cancel()
        if self.capture is not None:
            self.capture.close()
        await self._stop_gracefully(self.routing.all())
        for task in list(self._draining):  # an update's old instances still stopping
            await task
        await self.client.aclose()
        self.executor.close()
        self._write_state("Deleted", "The endpoint was deleted")


def _max_payload(spec: dict[str, Any]) -> int:
    """The largest request body any variant's model server takes (``SAGEMAKER_MAX_PAYLOAD_IN_MB``,
    6 by default): the router refuses larger ones before reading them."""
    sizes = []
    for variant in spec.get("ProductionVariants") or []:
        size = (variant.get("Environment") or {}).get("SAGEMAKER_MAX_PAYLOAD_IN_MB", 6)
        with contextlib.suppress(TypeError, ValueError):
            sizes.append(float(size))
    return int(max(sizes, default=6.0) * 1024 * 1024)


def _url_host(host: str) -> str:
    """The name clients reach an endpoint bound to ``host`` by."""
    import socket

    if host in ("0.0.0.0", "::", ""):
        name = socket.gethostname()
        try:
            socket.getaddrinfo(name, None)
            return name
        except OSError:
            return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    runner = EndpointRunner(Path(args[0]).resolve())
    try:
        try:
            import uvloop
        except ImportError:  # uvicorn[standard] brings it; plain asyncio works too, slower
            asyncio.run(runner.run())
        else:
            uvloop.run(runner.run())
    except Exception as exc:
        traceback.print_exc()
        runner._write_state("Failed", "The endpoint runner failed", failure_reason=f"InternalServerError: {exc!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
