"""The Ray executor: each job's runner runs on a node of a Ray cluster.

A job gets a detached placement group named after it, one bundle per host (the host's CPUs, memory
and GPUs), spread over the nodes (packed on one node for jobs whose hosts must stay together:
``Launch.spread``). Every node has a launcher, a detached named actor started once (ahead of the
jobs: a Ray worker process takes more than half a second to start), which starts the processes
placed on its node, each in a session of its own, and answers for them: the runner on bundle 0's
node (``python -m mlyard.runtime.runner CHANNEL WORK``), and a host agent
(``python -m mlyard.runtime.remote``) on the node of each bundle that lies elsewhere.
``placement.json`` in the runner channel tells the runner which hosts are remote, every host's
address (the node's IP), from which it builds the hosts file, ``MASTER_ADDR`` and ``TF_CONFIG``,
and the GPUs Ray gave each host's bundle. All of it outlives the control plane: after a restart the
job's group is found by its name, and its runner by asking the launcher of bundle 0's node.

Nothing else imports ray: this module is loaded only when the Ray executor is chosen.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from mlyard.compute.executor import SERVICE_HOST, SERVICE_READY, Executor, Handle, Launch, NotPlaced, Service
from mlyard.compute.instance_types import Resources
from mlyard.errors import ValidationError

__all__ = ["RayExecutor", "connect"]

NAMESPACE = "mlyard"
_CONNECT_SECONDS = 5.0     # the longest a check that the cluster answers may take
_CALL_SECONDS = 10.0       # the longest an answer from a launcher is waited for
_START_SECONDS = 60.0      # ... when it starts a runner (a node's first launch starts its launcher)
_ALIVE_SECONDS = 2.0       # ... when the control loop asks whether it runs (once a second per job)
_CAPACITY_SECONDS = 1.0    # how long the cluster's resources are taken as read
_ROOM_SECONDS = 0.5        # how long a launch waits for resources that are being freed
_RETRY_SECONDS = 5.0       # a job the cluster could not place is tried again after this
_SERVICE_LINGER_SECONDS = 2.0  # a service that exited gives its resources back after this
_LINGER_SECONDS = "60"     # an actor whose runner has exited removes its group after this (MLYARD_RAY_LINGER_SECONDS)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValidationError("the ray executor needs Ray: pip install 'mlyard[ray]'") from None
    return ray


class _Launcher:
    """The actor, one per node (detached, named ``mlyard-launcher-<version>-<node id>``), that
    starts the runners and host agents placed on its node, each a process of its own session, and
    answers for them by key (the job's name; ``job/host`` for an agent). Starting a Ray worker
    process takes more than half a second; this one is started once per node, ahead of the jobs,
    so a launch costs a method call and a fork."""

    def __init__(self) -> None:
        import ray

        self.procs: dict[str, Any] = {}  # key -> subprocess.Popen, or processes.Forked
        self.forks: Any = None  # the node's processes.ForkServer
        self.lock = threading.Lock()
        self.node_id = ray.get_runtime_context().get_node_id()
        self.node_ip = ray.util.get_node_ip_address()
        self.hostname = socket.gethostname()

    def start(self, key: str, argv: list[str], env: dict[str, str], log_path: str, group: Any,
              linger: float, files: tuple[list[Any], str] | None = None,
              channel_log: tuple[str, str] | None = None) -> dict[str, Any]:
        from mlyard.compute.processes import start_logged

        self.finish(key, 0.0)  # what an earlier launch of the same key left
        if files is not None:  # a folder of the caller's machine, sent as a tar.gz: unpacked here
            argv = self._unpack(key, files[0][0], files[1], argv)
        # A session of its own: signals to the launcher's process group never reach it.
        proc: Any = self._fork(argv, env) if files is None and channel_log is None else None
        if proc is None:
            proc = start_logged(argv, env, log_path, channel_log)
        with self.lock:
            self.procs[key] = proc
        threading.Thread(target=self._linger, args=(key, proc, group, linger), name=f"linger-{key}",
                         daemon=True).start()
        return self.where(key) or {}

    # Runners and host agents are forked by the node's fork server (compute/processes.py), started
    # with the launcher, so that a job's start does not take 0.2 s of CPU from its node's hosts.
    _FORKED = {"mlyard.runtime.runner": [], "mlyard.runtime.remote": ["--agent"]}

    def prepare(self, python: str, env: dict[str, str]) -> None:
        """Start the fork server for processes of ``env`` ahead of the first job."""
        from mlyard.compute.processes import ForkServer

        with self.lock:
            if self.forks is None:
                self.forks = ForkServer(python)
        self.forks.prepare(env)

    def _fork(self, argv: list[str], env: dict[str, str]) -> Any:
        """The runner or agent ``argv`` names, forked; None for anything else, or if the fork
        server cannot (the caller then starts it as a new process)."""
        module = argv[2] if len(argv) > 2 and argv[1] == "-m" else ""
        if module not in self._FORKED:
            return None
        self.prepare(argv[0], env)
        assert self.forks is not None
        return self.forks.fork([*self._FORKED[module], *argv[3:]], env)

    @staticmethod
    def _copy_dir(key: str) -> str:
        import tempfile

        return os.path.join(tempfile.gettempdir(), "mlyard-work", "services", key.replace("/", "_"))

    def _unpack(self, key: str, ref: Any, original: str, argv: list[str]) -> list[str]:
        import shutil
        import tempfile
        from pathlib import Path

        import ray

        from mlyard.store.archive import extract_tar

        target = self._copy_dir(key)
        shutil.rmtree(target, ignore_errors=True)
        with tempfile.NamedTemporaryFile(suffix=".tar.gz") as archive:
            archive.write(ray.get(ref))
            archive.flush()
            extract_tar(Path(archive.name), Path(target))  # refuses members that would land outside
        return [target if a == original else a for a in argv]

    def _forget(self, key: str) -> None:
        import shutil

        shutil.rmtree(self._copy_dir(key), ignore_errors=True)

    def _linger(self, key: str, proc: subprocess.Popen[bytes], group: Any, linger: float) -> None:
        """Once a process has exited, and the control plane has had time to see it, forget it; for
        a runner (``group`` given), also remove the job's placement group: nothing is left behind
        when the control plane is not there to release it. A control plane that comes back later
        reads the job's end from its channel."""
        proc.wait()
        time.sleep(max(linger, 0.0))
        with self.lock:
            if self.procs.get(key) is not proc:
                return  # finished (or launched again) meanwhile
            del self.procs[key]
        self._forget(key)
        if group is not None:
            from ray.util.placement_group import remove_placement_group

            try:
                remove_placement_group(group)
            except Exception:  # released by the control plane already
                pass

    def where(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            proc = self.procs.get(key)
        if proc is None:
            return None
        return {"node_id": self.node_id, "node_ip": self.node_ip, "hostname": self.hostname, "pid": proc.pid}

    def running(self, key: str) -> bool:
        with self.lock:
            proc = self.procs.get(key)
        return proc is not None and proc.poll() is None

    def signal(self, key: str, sig: int) -> None:
        with self.lock:
            proc = self.procs.get(key)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def read(self, path: str) -> str | None:
        """A small file of this node (a service's port file)."""
        try:
            with open(path) as fh:
                return fh.read(100)
        except OSError:
            return None

    def kill(self, key: str) -> None:
        """SIGKILL the process and everything it started (a runner is their subreaper)."""
        import psutil

        from mlyard.runtime.hosts import kill_tree

        with self.lock:
            proc = self.procs.get(key)
        if proc is not None and proc.poll() is None:
            try:
                kill_tree(psutil.Process(proc.pid))
            except psutil.Error:
                pass
            proc.poll()

    def finish(self, key: str, wait: float) -> None:
        """Give an ended job's process ``wait`` seconds to exit, kill what is left, forget it."""
        with self.lock:
            proc = self.procs.get(key)
        if proc is None:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass
        self.kill(key)
        with self.lock:
            if self.procs.get(key) is proc:
                del self.procs[key]
        self._forget(key)

    def keys(self) -> list[str]:
        with self.lock:
            return sorted(self.procs)

    def pid(self) -> int:
        return os.getpid()


def _gpu_ids() -> list[int]:
    """Run in a bundle with its GPUs: the ids Ray gave the bundle on its node."""
    import ray

    return [int(g) for g in ray.get_gpu_ids()]


def _gcs_reachable(address: str) -> str | None:
    """None if something listens at the cluster's address (host:port), else why not. ``ray.init``
    to an address where nothing answers retries for minutes; this says so in seconds."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return f"{address!r} is not a Ray address (HOST:PORT of the head node's GCS, or auto)"
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_SECONDS).close()
    except OSError as exc:
        return f"nothing answers at {address} ({exc.strerror or exc})"
    return None


def connect(address: str | None = None) -> Any:
    """Connect this process to the Ray cluster at ``address`` (else ``$RAY_ADDRESS``, else ``auto``:
    the cluster started on this machine with ``ray start``); return the ray module."""
    ray = _import_ray()
    given = (address or os.environ.get("RAY_ADDRESS") or "auto").strip()
    if given.startswith("ray://"):
        raise ValidationError(f"Ray address {given!r}: the Ray client (ray://) is not supported; run mlyard "
                              "server on a node of the cluster and give the GCS address (HOST:PORT, or auto)")
    target = given
    if given == "auto":
        try:  # where `ray start` on this machine recorded its cluster
            from ray._private.services import canonicalize_bootstrap_address_or_die

            target = canonicalize_bootstrap_address_or_die("auto")
        except Exception as exc:
            raise ValidationError(f"no Ray cluster found on this machine ({exc}); start one with `ray start "
                                  "--head`, or give its address (--ray-address HOST:PORT, or RAY_ADDRESS)") from None
    problem = _gcs_reachable(target)
    if problem:
        raise ValidationError(f"cannot reach the Ray cluster at {given!r}: {problem}. Check that its head node "
                              "runs (`ray status`) and give its address (--ray-address HOST:PORT, or RAY_ADDRESS)")
    # Bound Ray's own waits for a GCS that accepts connections but does not answer.
    for key, value in (("RAY_gcs_rpc_server_connect_timeout_s", "5"), ("RAY_py_gcs_connect_timeout_s", "10"),
                       ("RAY_gcs_rpc_server_reconnect_timeout_s", "30")):
        os.environ.setdefault(key, value)
    try:
        ray.init(address=target, namespace=NAMESPACE, log_to_driver=False, logging_level="WARNING",
                 configure_logging=False, ignore_reinit_error=True)
    except Exception as exc:
        raise ValidationError(f"cannot connect to the Ray cluster at {given!r}: {exc}") from None
    return ray


class RayExecutor(Executor):
    """Runners on a Ray cluster. A handle names the job's placement group, the launcher that started
    its runner (and those of its remote hosts' agents), and where the runner runs (node id, address,
    host name) and its pid."""

    name = "ray"
    elastic = True  # nodes join and leave
    same_machine = False  # services run on any node, reached at its address

    def __init__(self, address: str | None = None) -> None:
        self.ray = connect(address)
        self.address = address or os.environ.get("RAY_ADDRESS") or "auto"
        self._lock = threading.Lock()
        self._capacity: tuple[float, Resources, int] | None = None
        self._actors: dict[str, Any] = {}
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

        self._placement_group = placement_group
        self._remove_placement_group = remove_placement_group
        self._strategy = PlacementGroupSchedulingStrategy
        self._on_node = NodeAffinitySchedulingStrategy
        # Calls to a launcher come from several jobs at once (a start, a stop, an alive check).
        self._launcher_class = self.ray.remote(max_concurrency=32)(_Launcher)
        self._gpu_task = self.ray.remote(_gpu_ids)
        self._warm()

    # -- names ------------------------------------------------------------------------------------
    @staticmethod
    def launcher_name(node_id: str) -> str:
        from mlyard import __version__

        return f"mlyard-launcher-{__version__}-{node_id}"

    @staticmethod
    def group_name(job: str) -> str:
        return f"mlyard-job-{job}"

    # -- the contract -----------------------------------------------------------------------------
    def start(self, launch: Launch) -> Handle:
        from mlyard.runtime.runner_channel import RunnerChannel, node_work_dir, work_dir_for

        group = self.group_name(launch.name)
        pg = self._place(group, _bundle(launch.per_host), len(launch.hosts),
                         "SPREAD" if launch.spread else "STRICT_PACK")
        channel = RunnerChannel(launch.channel)
        work = str(work_dir_for(channel, launch.name))
        handle: Handle = {"key": launch.name, "placement_group": group, "agents": {}}
        try:
            # Where each bundle landed: hosts on another node than bundle 0's run through an agent there.
            nodes = self.ray.util.placement_group_table(pg).get("bundles_to_node_id") or {}
            ips = {n["NodeID"]: n.get("NodeManagerAddress") for n in self.ray.nodes()}
            home = nodes.get(0)
            hosts = {h: {"node": nodes.get(i), "node_ip": ips.get(nodes.get(i)),
                         "address": ips.get(nodes.get(i)) or "127.0.0.1", "remote": nodes.get(i) != home}
                     for i, h in enumerate(launch.hosts)}
            if len({n for n in nodes.values()}) < 2:  # all on one node: plain loopback, as locally
                hosts = {h: dict(p, address="127.0.0.1") for h, p in hosts.items()}
            if launch.per_host.gpus:  # the GPUs Ray gave each bundle, numbered on its node
                ids = self.ray.get([self._gpu_task.options(
                    num_cpus=0, num_gpus=launch.per_host.gpus,
                    scheduling_strategy=self._strategy(placement_group=pg, placement_group_bundle_index=i)).remote()
                    for i in range(len(launch.hosts))], timeout=_START_SECONDS)
                for place, gpus in zip(hosts.values(), ids, strict=True):
                    place["gpu_ids"] = gpus
            channel.put("placement.json", json.dumps({"hosts": hosts}).encode())
            handle["hosts"] = {h: {"node": p["node"], "address": p["node_ip"]} for h, p in hosts.items()}
            handle["launcher"] = self.launcher_name(str(home))
            linger = float(os.environ.get("MLYARD_RAY_LINGER_SECONDS", _LINGER_SECONDS))
            calls = []
            for host, where in hosts.items():
                if where["remote"] and launch.agents:
                    node = str(where["node"])
                    agent_work = str(node_work_dir(f"{launch.name}-{host}"))
                    calls.append(self._launcher(node).start.remote(
                        _agent_key(launch.name, host),
                        [sys.executable, "-m", "mlyard.runtime.remote", launch.channel, host, agent_work],
                        launch.env, os.path.join(agent_work, "runner.log"), None, linger))
                    handle["agents"][host] = self.launcher_name(node)
            runner = self._launcher(str(home)).start.remote(
                launch.name, [sys.executable, "-m", "mlyard.runtime.runner", launch.channel, work], launch.env,
                os.path.join(work, "runner.log"), pg, linger)
            handle.update(self.ray.get(runner, timeout=_START_SECONDS))
            self.ray.get(calls, timeout=_START_SECONDS)
        except Exception as exc:  # the runner was not started at all
            self._forget_actors()  # a launcher that died is looked up again next time
            self._release_now(handle, 0.0)
            self._remove_placement_group(pg)
            raise ValidationError(f"the Ray cluster could not start the job's runner: {str(exc)[-800:]}") from None
        return handle

    def adopt(self, launch: Launch, reported: dict[str, Any] | None) -> Handle | None:
        from ray.util.placement_group import get_placement_group

        group = self.group_name(launch.name)
        try:
            nodes = self.ray.util.placement_group_table(get_placement_group(group)).get("bundles_to_node_id") or {}
        except ValueError:
            return None  # no group: nothing was started, or it has ended and let go of everything
        home = nodes.get(0)
        launcher = self._actor(self.launcher_name(str(home))) if home else None
        where: dict[str, Any] | None = None
        if launcher is not None:
            try:
                where = self.ray.get(launcher.where.remote(launch.name), timeout=_CALL_SECONDS)
            except self.ray.exceptions.GetTimeoutError:
                where = {}  # busy, not gone: taken as running (alive() asks again), never started twice
            except self.ray.exceptions.RayError:
                where = None
        if where is None:
            self._remove_group(group)
            return None
        handle: Handle = {"key": launch.name, "placement_group": group,
                          "launcher": self.launcher_name(str(home)), **where}
        from mlyard.runtime.runner_channel import RunnerChannel

        raw = RunnerChannel(launch.channel).get("placement.json")  # written before anything started
        placed = (json.loads(raw).get("hosts") or {}) if raw else {}
        handle["hosts"] = {h: {"node": p.get("node"), "address": p.get("node_ip")} for h, p in placed.items()}
        handle["agents"] = {h: self.launcher_name(p["node"]) for h, p in placed.items() if p.get("remote")}
        return handle

    def alive(self, handle: Handle) -> bool:
        launcher = self._actor(handle.get("launcher") or "")
        if launcher is None or self._lost_hosts(handle):
            return False
        try:
            return bool(self.ray.get(launcher.running.remote(handle["key"]), timeout=_ALIVE_SECONDS))
        except self.ray.exceptions.GetTimeoutError:
            return self._node_alive(handle)  # busy: alive while its node is
        except self.ray.exceptions.RayError:
            return False  # the launcher died (its node left the cluster, or it was killed)

    def kill(self, handle: Handle) -> None:
        for launcher, key in _processes(handle):
            self._call(self._actor(launcher), "kill", key)
        self._release_now(handle, 0.0)

    def release(self, handle: Handle) -> None:
        # Off the control loop: the group goes at once (its hosts have ended: the next job may have
        # their resources), the runner is given a moment to exit.
        threading.Thread(target=self._release_now, args=(handle, 30.0), name="ray-release", daemon=True).start()

    def _release_now(self, handle: Handle, wait: float) -> None:
        self._remove_group(handle["placement_group"])
        for launcher, key in _processes(handle):
            self._call(self._actor(launcher), "finish", key, wait, timeout=wait + _CALL_SECONDS)

    def capacity(self) -> Resources:
        with self._lock:
            cached = self._capacity
        if cached is not None and time.monotonic() - cached[0] < _CAPACITY_SECONDS:
            return cached[1]
        total = self.ray.cluster_resources()
        cap = Resources(float(total.get("CPU", 0)), int(total.get("memory", 0) // (1024 * 1024)),
                        int(total.get("GPU", 0)))
        nodes = sum(1 for n in self.ray.nodes() if n.get("Alive"))
        with self._lock:
            changed = cached is None or cached[2] != nodes
            self._capacity = (time.monotonic(), cap, nodes)
        if changed:
            self._warm()  # a node that joined gets its launcher before its first job
        return cap

    def largest_node(self, want: Resources) -> Resources:
        """The alive node that gives the most of ``want`` (GPUs first, then CPUs, then memory)."""
        best, score = Resources(0, 0, 0), (-1.0, -1.0, -1.0)
        for node in self.ray.nodes():
            have = node.get("Resources") or {}
            if not node.get("Alive"):
                continue
            this = Resources(float(have.get("CPU", 0)), int(have.get("memory", 0) // (1024 * 1024)),
                             int(have.get("GPU", 0)))
            gives = (float(min(want.gpus, this.gpus)), min(want.cpus, this.cpus),
                     float(min(want.memory_mib, this.memory_mib)))
            if gives > score:
                best, score = this, gives
        return best

    def runner_text(self, handle: Handle) -> str:
        lost = self._lost_hosts(handle)
        if lost:
            host, node = lost[0]
            return (f"host {host} (on node {node}, which has left the Ray cluster) was lost, and with it the "
                    "job's run")
        host = f" (host {handle['hostname']})" if handle.get("hostname") else ""
        where = (f"node {handle['node_ip']} / {handle['node_id']}{host}"
                 if handle.get("node_id") else "a node not known yet")
        pid = f"pid {handle['pid']} " if handle.get("pid") else ""
        text = f"the job's runner ({pid}on {where}, started by Ray actor {handle.get('launcher')})"
        if handle.get("node_id") and not self._node_alive(handle):
            text += f", whose node {handle['node_id']} has left the Ray cluster,"
        return text

    def placement(self, handle: Handle, hosts: list[str]) -> list[dict[str, Any]]:
        placed = handle.get("hosts") or {}
        if not placed and not handle.get("node_id"):
            return []
        out = []
        for h in hosts:
            where = placed.get(h) or {"node": handle.get("node_id"), "address": handle.get("node_ip")}
            remote = h in (handle.get("agents") or {})
            out.append({"Host": h, "Node": where["node"], "NodeAddress": where["address"],
                        "RunBy": "host agent" if remote else "runner"})
        return out

    def _lost_hosts(self, handle: Handle) -> list[tuple[str, str]]:
        """The hosts run by agents whose nodes have left the cluster: (host, node)."""
        agents = handle.get("agents") or {}
        if not agents:
            return []
        alive = {n.get("NodeID") for n in self.ray.nodes() if n.get("Alive")}
        placed = handle.get("hosts") or {}
        return [(h, placed[h]["node"]) for h in agents if placed.get(h, {}).get("node") not in alive]

    def check_reachable(self, locations: dict[str, str]) -> None:
        addresses = {n.get("NodeManagerAddress") for n in self.ray.nodes() if n.get("Alive")}
        if len(addresses) < 2:
            return  # one machine: its folders are every node's
        for what, location in locations.items():
            if "://" not in location or location.startswith("file://"):
                raise ValidationError(
                    f"{what} is a local folder ({location}) but the Ray cluster's nodes are on {len(addresses)} "
                    "machines, which cannot all reach it; set MLYARD_RUNS and MLYARD_STORE to a store every node "
                    "reaches (s3://bucket/prefix) and restart the server")

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        with self._lock:
            nodes = self._capacity[2] if self._capacity else 0
        out.update(nodes=nodes, address=self.address)
        return out

    # -- services: one group of one bundle each, started by the node's launcher ---------------------
    def config(self) -> dict[str, Any]:
        # The cluster's GCS address as this process reached it: valid from any node ("auto" is not).
        return {"name": self.name, "address": self.ray.get_runtime_context().gcs_address}

    @staticmethod
    def service_group(name: str) -> str:
        return f"mlyard-service-{name}"

    def start_service(self, service: Service) -> Handle:
        if service.job_host is not None:  # in the bundle its job reserved for that host
            job, host, index = service.job_host
            key = _agent_key(job, host)  # what a kill or release of the job ends with it
            group, pg = None, None
            try:
                from ray.util.placement_group import get_placement_group

                node = str((self.ray.util.placement_group_table(get_placement_group(self.group_name(job)))
                            .get("bundles_to_node_id") or {})[index])
            except (ValueError, KeyError) as exc:
                raise ValidationError(f"job {job!r} holds no reservation for host {index + 1} on the Ray cluster "
                                      f"({exc})") from None
        else:
            key = service.name
            group = self.service_group(service.name)
            pg = self._place(group, _bundle(service.resources), 1, "STRICT_PACK")
            node = str((self.ray.util.placement_group_table(pg).get("bundles_to_node_id") or {})[0])
        try:
            ip = {n["NodeID"]: n.get("NodeManagerAddress") for n in self.ray.nodes()}[node]
            ready = service.ready_file
            env = {**service.env, SERVICE_HOST: ip, SERVICE_READY: ready}
            files = None
            if service.files and ip != self.ray.util.get_node_ip_address():  # another machine: send the folder
                files = ([self.ray.put(_pack(service.files))], service.files)  # a list: passed as a reference
            where = self.ray.get(self._launcher(node).start.remote(
                key, service.argv, env, service.log, pg, _SERVICE_LINGER_SECONDS, files,
                service.channel_log), timeout=_START_SECONDS)
        except Exception as exc:
            self._forget_actors()  # a launcher that died is looked up again next time
            self._call(self._actor(self.launcher_name(node)), "finish", key, 0.0)  # in case it started late
            if pg is not None:
                self._remove_placement_group(pg)
            raise ValidationError(f"the Ray cluster could not start {service.name}: {str(exc)[-800:]}") from None
        return {"key": key, "placement_group": group, "launcher": self.launcher_name(node),
                "ready_file": ready, **where}

    def service_address(self, handle: Handle) -> tuple[str, int] | None:
        text = self._call(self._actor(handle["launcher"]), "read", handle["ready_file"])
        if not text or not text.strip().isdigit():
            return None
        return str(handle["node_ip"]), int(text)

    def service_alive(self, handle: Handle) -> bool:
        return self.alive(handle)

    def stop_service(self, handle: Handle, sig: int) -> None:
        launcher = self._actor(handle["launcher"])
        if sig == signal.SIGKILL:
            self._call(launcher, "finish", handle["key"], 0.0)
            if handle.get("placement_group"):  # its own (not its job's)
                self._remove_group(handle["placement_group"])
        else:
            self._call(launcher, "signal", handle["key"], sig)

    def close(self) -> None:
        try:
            self.ray.shutdown()  # the driver goes; launchers, their processes and groups stay
        except Exception:
            pass

    # -- helpers ----------------------------------------------------------------------------------
    def _warm(self) -> None:
        """Start (or find) the launcher of every alive node that can take a host; not waited for."""
        for node in self.ray.nodes():
            have = node.get("Resources") or {}
            if node.get("Alive") and (have.get("CPU") or have.get("GPU")):
                self._launcher(node["NodeID"])

    def _launcher(self, node_id: str) -> Any:
        name = self.launcher_name(node_id)
        with self._lock:
            cached = self._actors.get(name)
        if cached is not None:
            return cached
        actor = self._launcher_class.options(
            name=name, namespace=NAMESPACE, get_if_exists=True, lifetime="detached", num_cpus=0, max_restarts=0,
            scheduling_strategy=self._on_node(node_id=node_id, soft=False)).remote()
        from mlyard.runtime.runner import public_environment

        actor.prepare.remote(sys.executable, public_environment())  # its fork server, ahead of the first job
        with self._lock:
            self._actors[name] = actor
        return actor

    def _forget_actors(self) -> None:
        with self._lock:
            self._actors.clear()

    def _actor(self, name: str) -> Any:
        with self._lock:
            cached = self._actors.get(name)
        if cached is not None:
            return cached
        try:
            actor = self.ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            return None
        with self._lock:
            self._actors[name] = actor
        return actor

    def _call(self, actor: Any, method: str, *args: Any, timeout: float = _CALL_SECONDS) -> Any:
        """``actor.method(*args)``, waited for; None if the actor is gone or does not answer."""
        if actor is None:
            return None
        try:
            return self.ray.get(getattr(actor, method).remote(*args), timeout=timeout)
        except self.ray.exceptions.RayError:
            return None

    def _node_alive(self, handle: Handle) -> bool:
        node = handle.get("node_id")
        if not node:
            return True
        return any(n.get("NodeID") == node and n.get("Alive") for n in self.ray.nodes())

    def _remove_group(self, name: str) -> None:
        from ray.util.placement_group import get_placement_group

        try:
            self._remove_placement_group(get_placement_group(name))
        except Exception:  # none of that name (any more)
            pass

    def _place(self, group: str, bundle: dict[str, float], count: int, strategy: str) -> Any:
        """A detached placement group ``group`` of ``count`` x ``bundle``, placed; one of that name
        left by an earlier launch (lost by a restart) is removed first. Raises ValidationError if
        the bundle fits no node, NotPlaced if Ray cannot place the group now (an unplaceable group
        would stay pending for ever: it is removed, and the caller tries again later)."""
        self._check_fits(bundle)
        self._remove_group(group)
        self._await_room(bundle, count)
        pg = self._placement_group([dict(bundle) for _ in range(count)], strategy=strategy, name=group,
                                   lifetime="detached")
        if not pg.wait(timeout_seconds=float(os.environ.get("MLYARD_RAY_PLACEMENT_SECONDS", "3"))):
            self._remove_placement_group(pg)
            what = f"{count} x {_describe(bundle)}" if count > 1 else _describe(bundle)
            raise NotPlaced(f"the Ray cluster has no room for {what} now", retry_after=_RETRY_SECONDS)
        return pg

    def _await_room(self, bundle: dict[str, float], count: int) -> None:
        """Wait (half a second at most) until the cluster has ``count`` bundles' worth of resources
        free. A group Ray cannot place at once is tried again only after a back-off of up to a
        second, while resources a removed group held (the job before's) are free again in about
        0.1 s: a group created then is placed at once."""
        deadline = time.monotonic() + _ROOM_SECONDS
        while True:
            free = self.ray.available_resources()
            if all(free.get(k, 0.0) >= v * count - 1e-6 for k, v in bundle.items()) or time.monotonic() > deadline:
                return
            time.sleep(0.02)

    def _check_fits(self, bundle: dict[str, float]) -> None:
        """Fail a job one of whose hosts fits no node of the cluster (it would wait for ever)."""
        for node in self.ray.nodes():
            have = node.get("Resources") or {}
            if node.get("Alive") and all(have.get(k, 0) >= v for k, v in bundle.items()):
                return
        raise ValidationError(f"no node of the Ray cluster has {_describe(bundle)} for one host; ask for a smaller "
                              "instance type, or add such a node")


def _pack(folder: str) -> bytes:
    """``folder`` as tar.gz bytes."""
    import tempfile
    from pathlib import Path

    from mlyard.store.archive import make_tar

    with tempfile.TemporaryDirectory() as tmp:
        return make_tar(Path(tmp) / "files.tar.gz", [(Path(folder), "")], compresslevel=1).read_bytes()


def _agent_key(job: str, host: str) -> str:
    return f"{job}/{host}"


def _processes(handle: Handle) -> list[tuple[str, str]]:
    """(launcher, key) of every process a job's handle may name: the runner, then its hosts' (a
    host agent, or a model server the runner started as a service) on their nodes."""
    out = [(handle["launcher"], handle["key"])] if handle.get("launcher") else []
    for host, where in (handle.get("hosts") or {}).items():
        if where.get("node"):
            out.append((RayExecutor.launcher_name(str(where["node"])), _agent_key(handle["key"], host)))
    return out


def _bundle(per_host: Resources) -> dict[str, float]:
    bundle = {"CPU": float(per_host.cpus), "memory": float(per_host.memory_mib * 1024 * 1024)}
    if per_host.gpus:
        bundle["GPU"] = float(per_host.gpus)
    return bundle


def _describe(bundle: dict[str, float]) -> str:
    text = f"{bundle['CPU']:g} CPU, {bundle['memory'] / 1024**2:.0f} MiB"
    return text + (f", {bundle['GPU']:g} GPU" if bundle.get("GPU") else "")
