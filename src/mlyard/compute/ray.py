"""The Ray executor: each job's runner runs on a node of a Ray cluster, held by a detached actor.

A job gets a detached placement group named after it, one bundle per host (the host's CPUs, memory
and GPUs), spread over the nodes (packed on one node for jobs whose hosts must stay together:
``Launch.spread``); a detached, named actor in bundle 0 starts the runner there as a process of its
own session (``python -m mlyard.runtime.runner CHANNEL WORK``) and answers for it. A host whose
bundle lies on another node runs there through a host agent (``python -m mlyard.runtime.remote``),
held by an actor of its own in that bundle; ``placement.json`` in the runner channel tells the
runner which hosts are remote and every host's address (the node's IP), from which it builds the
hosts file, ``MASTER_ADDR`` and ``TF_CONFIG``. All of it outlives the control plane: after a restart
the actors are found again by their names.

Nothing else imports ray: this module is loaded only when the Ray executor is chosen.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from mlyard.compute.executor import Executor, Handle, Launch, NotPlaced
from mlyard.compute.instance_types import Resources
from mlyard.errors import ValidationError

__all__ = ["RayExecutor", "connect"]

NAMESPACE = "mlyard"
_CONNECT_SECONDS = 5.0     # the longest a check that the cluster answers may take
_CALL_SECONDS = 10.0       # the longest an answer from a runner's actor is waited for
_ALIVE_SECONDS = 2.0       # ... when the control loop asks whether it runs (once a second per job)
_CAPACITY_SECONDS = 1.0    # how long the cluster's resources are taken as read
_RETRY_SECONDS = 5.0       # a job the cluster could not place is tried again after this
_LINGER_SECONDS = "60"     # an actor whose runner has exited removes its group after this (MLYARD_RAY_LINGER_SECONDS)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValidationError("the ray executor needs Ray: pip install 'mlyard[ray]'") from None
    return ray


class _Runner:
    """The actor that holds one job's runner on its node (created through ``ray.remote``)."""

    def __init__(self, argv: list[str], env: dict[str, str], work: str, linger: float) -> None:
        import ray

        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "runner.log"), "ab") as log:
            # A session of its own: signals to the actor's process group never reach the runner.
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True, close_fds=True)
        self.node_id = ray.get_runtime_context().get_node_id()
        self.node_ip = ray.util.get_node_ip_address()
        threading.Thread(target=self._linger, args=(linger,), name="runner-watch", daemon=True).start()

    def _linger(self, linger: float) -> None:
        """Once the runner has exited, and the control plane has had time to see it, remove the
        job's placement group (which ends this actor too): nothing is left behind when the control
        plane is not there to release it. A control plane that comes back later reads the job's
        end from its channel. (A host agent, ``linger`` < 0, leaves that to the runner's actor.)"""
        from ray.util.placement_group import get_current_placement_group, remove_placement_group

        if linger < 0:
            return
        self.proc.wait()
        time.sleep(linger)
        group = get_current_placement_group()
        if group is not None:
            remove_placement_group(group)

    def where(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "node_ip": self.node_ip, "hostname": socket.gethostname(),
                "pid": self.proc.pid}

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill_runner(self) -> None:
        """SIGKILL the runner and everything it started (the runner is their subreaper)."""
        import psutil

        from mlyard.runtime.hosts import kill_tree

        if self.proc.poll() is None:
            try:
                kill_tree(psutil.Process(self.proc.pid))
            except psutil.Error:
                pass
        self.proc.poll()

    def finish(self, wait: float) -> None:
        """Give an ended job's runner ``wait`` seconds to exit, then kill what is left."""
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass
        self.kill_runner()


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
    """Runners on a Ray cluster. A handle names the job's placement group and actor, and where the
    runner runs (node id, address, host name) and its pid."""

    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        self.ray = connect(address)
        self.address = address or os.environ.get("RAY_ADDRESS") or "auto"
        self._lock = threading.Lock()
        self._capacity: tuple[float, Resources, int] | None = None
        self._actors: dict[str, Any] = {}
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        self._placement_group = placement_group
        self._remove_placement_group = remove_placement_group
        self._strategy = PlacementGroupSchedulingStrategy
        self._actor_class = self.ray.remote(max_concurrency=4)(_Runner)  # a stop may come while alive() asks

    # -- names ------------------------------------------------------------------------------------
    @staticmethod
    def actor_name(job: str) -> str:
        return f"mlyard-runner-{job}"

    @staticmethod
    def agent_name(job: str, host: str) -> str:
        return f"mlyard-host-{job}-{host}"

    @staticmethod
    def group_name(job: str) -> str:
        return f"mlyard-job-{job}"

    # -- the contract -----------------------------------------------------------------------------
    def start(self, launch: Launch) -> Handle:
        from mlyard.runtime.runner_channel import RunnerChannel, node_work_dir, work_dir_for

        self._clear(launch.name, launch.hosts)  # what a launch lost by a restart left behind
        bundle = _bundle(launch.per_host)
        self._check_fits(bundle)
        group = self.group_name(launch.name)
        pg = self._placement_group([dict(bundle) for _ in launch.hosts],
                                   strategy="SPREAD" if launch.spread else "STRICT_PACK", name=group,
                                   lifetime="detached")
        # An unplaceable group stays pending for ever: wait briefly, then give the job back to the queue.
        if not pg.wait(timeout_seconds=float(os.environ.get("MLYARD_RAY_PLACEMENT_SECONDS", "3"))):
            self._remove_placement_group(pg)
            raise NotPlaced(f"the Ray cluster has no room for {len(launch.hosts)} x {_describe(bundle)} now",
                            retry_after=_RETRY_SECONDS)
        channel = RunnerChannel(launch.channel)
        work = str(work_dir_for(channel, launch.name))
        handle: Handle = {"actor": self.actor_name(launch.name), "placement_group": group}
        # Where each bundle landed: hosts on another node than bundle 0's run through an agent there.
        nodes = self.ray.util.placement_group_table(pg).get("bundles_to_node_id") or {}
        ips = {n["NodeID"]: n.get("NodeManagerAddress") for n in self.ray.nodes()}
        home = nodes.get(0)
        hosts = {h: {"node": nodes.get(i), "node_ip": ips.get(nodes.get(i)),
                     "address": ips.get(nodes.get(i)) or "127.0.0.1", "remote": nodes.get(i) != home}
                 for i, h in enumerate(launch.hosts)}
        if len({n for n in nodes.values()}) < 2:  # all on one node: plain loopback, as locally
            hosts = {h: dict(p, address="127.0.0.1") for h, p in hosts.items()}
        channel.put("placement.json", json.dumps({"hosts": hosts}).encode())
        handle["hosts"] = {h: {"node": p["node"], "address": p["node_ip"]} for h, p in hosts.items()}
        # Where the runner runs is bundle 0's node: known now, without waiting for the actor's worker
        # process to start (more than half a second), so a launch does not hold the control loop.
        handle.update(node_id=home, node_ip=ips.get(home))
        handle["agents"] = {}
        try:
            for i, (host, where) in enumerate(hosts.items()):
                if not where["remote"]:
                    continue
                name = self.agent_name(launch.name, host)
                agent_work = str(node_work_dir(f"{launch.name}-{host}"))
                self._actor_class.options(
                    name=name, namespace=NAMESPACE, lifetime="detached", num_cpus=0, max_restarts=0,
                    scheduling_strategy=self._strategy(placement_group=pg, placement_group_bundle_index=i),
                ).remote([sys.executable, "-m", "mlyard.runtime.remote", launch.channel, host, agent_work],
                         launch.env, agent_work, -1.0)
                handle["agents"][host] = name
            actor = self._actor_class.options(
                name=handle["actor"], namespace=NAMESPACE, lifetime="detached", num_cpus=0, max_restarts=0,
                scheduling_strategy=self._strategy(placement_group=pg, placement_group_bundle_index=0),
            ).remote([sys.executable, "-m", "mlyard.runtime.runner", launch.channel, work], launch.env, work,
                     float(os.environ.get("MLYARD_RAY_LINGER_SECONDS", _LINGER_SECONDS)))
            with self._lock:
                self._actors[handle["actor"]] = actor
        except Exception as exc:  # the actor was not created at all
            self._release_now(handle, 0.0)
            raise ValidationError(f"the Ray actor {handle['actor']} could not start the runner: "
                                  f"{str(exc)[-800:]}") from None
        return handle

    def adopt(self, launch: Launch, reported: dict[str, Any] | None) -> Handle | None:
        actor = self._actor(self.actor_name(launch.name))
        if actor is None:
            self._remove_group(self.group_name(launch.name))
            return None
        handle: Handle = {"actor": self.actor_name(launch.name), "placement_group": self.group_name(launch.name)}
        handle.update(self._where(actor) or {})
        from mlyard.runtime.runner_channel import RunnerChannel

        raw = RunnerChannel(launch.channel).get("placement.json")  # written before any actor started
        placed = (json.loads(raw).get("hosts") or {}) if raw else {}
        handle["hosts"] = {h: {"node": p.get("node"), "address": p.get("node_ip")} for h, p in placed.items()}
        handle["agents"] = {h: self.agent_name(launch.name, h) for h, p in placed.items() if p.get("remote")}
        return handle

    def alive(self, handle: Handle) -> bool:
        actor = self._actor(handle["actor"])
        if actor is None or self._lost_hosts(handle):
            return False
        try:
            return bool(self.ray.get(actor.running.remote(), timeout=_ALIVE_SECONDS))
        except self.ray.exceptions.GetTimeoutError:
            return self._node_alive(handle)  # busy, or not placed yet: alive while its node is
        except self.ray.exceptions.RayError:
            return False  # the actor died (its node left the cluster, or it was killed)

    def kill(self, handle: Handle) -> None:
        for name in [handle["actor"], *(handle.get("agents") or {}).values()]:
            actor = self._actor(name)
            if actor is not None:
                try:  # ray.kill alone would leave the runner (or agent) and its hosts running
                    self.ray.get(actor.kill_runner.remote(), timeout=_CALL_SECONDS)
                except self.ray.exceptions.RayError:
                    pass
        self._release_now(handle, 0.0)

    def release(self, handle: Handle) -> None:
        # Off the control loop: the runner is given a moment to exit before its actor and group go.
        threading.Thread(target=self._release_now, args=(handle, 30.0), name="ray-release", daemon=True).start()

    def _release_now(self, handle: Handle, wait: float) -> None:
        names = [handle["actor"], *(handle.get("agents") or {}).values()]
        for name in names:
            actor = self._actor(name)
            if actor is None:
                continue
            try:
                self.ray.get(actor.finish.remote(wait), timeout=wait + _CALL_SECONDS)
            except self.ray.exceptions.RayError:
                pass
            try:
                self.ray.kill(actor)
            except Exception:
                pass
        with self._lock:
            self._actors = {k: v for k, v in self._actors.items() if k not in names}
        self._remove_group(handle["placement_group"])

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
            self._capacity = (time.monotonic(), cap, nodes)
        return cap

    def largest_node(self) -> Resources:
        """The alive node with the most CPUs (then memory), as one host's upper bound."""
        best = Resources(0, 0, 0)
        for node in self.ray.nodes():
            have = node.get("Resources") or {}
            if not node.get("Alive"):
                continue
            this = Resources(float(have.get("CPU", 0)), int(have.get("memory", 0) // (1024 * 1024)),
                             int(have.get("GPU", 0)))
            if (this.cpus, this.memory_mib) > (best.cpus, best.memory_mib):
                best = this
        return best

    def runner_text(self, handle: Handle) -> str:
        lost = self._lost_hosts(handle)
        if lost:
            host, node = lost[0]
            return (f"host {host} (Ray actor {handle['agents'][host]} on node {node}, which has left the Ray "
                    "cluster) was lost, and with it the job's run")
        host = f" (host {handle['hostname']})" if handle.get("hostname") else ""
        where = (f"node {handle['node_ip']} / {handle['node_id']}{host}"
                 if handle.get("node_id") else "a node not known yet")
        text = f"the job's runner (Ray actor {handle['actor']} on {where})"
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
            out.append({"Host": h, "Node": where["node"], "NodeAddress": where["address"],
                        "Agent": (handle.get("agents") or {}).get(h) or handle["actor"]})
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

    def close(self) -> None:
        try:
            self.ray.shutdown()  # the driver goes; detached actors and groups stay
        except Exception:
            pass

    # -- helpers ----------------------------------------------------------------------------------
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

    def _where(self, actor: Any, wait: float = _CALL_SECONDS) -> dict[str, Any] | None:
        try:
            where: dict[str, Any] = self.ray.get(actor.where.remote(), timeout=wait)
            return where
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

    def _clear(self, job: str, hosts: list[str]) -> None:
        """Remove a job's actors and group left by an earlier launch of it, and wait for the names."""
        agents = {h: self.agent_name(job, h) for h in hosts}
        names = [self.actor_name(job), *agents.values()]
        if any(self._actor(n) is not None for n in names):
            self._release_now({"actor": self.actor_name(job), "placement_group": self.group_name(job),
                               "agents": agents}, 0.0)
            deadline = time.monotonic() + _CALL_SECONDS
            while any(self._actor(n) is not None for n in names) and time.monotonic() < deadline:
                with self._lock:
                    for n in names:
                        self._actors.pop(n, None)
                time.sleep(0.1)
        else:
            self._remove_group(self.group_name(job))

    def _check_fits(self, bundle: dict[str, float]) -> None:
        """Fail a job one of whose hosts fits no node of the cluster (it would wait for ever)."""
        for node in self.ray.nodes():
            have = node.get("Resources") or {}
            if node.get("Alive") and all(have.get(k, 0) >= v for k, v in bundle.items()):
                return
        raise ValidationError(f"no node of the Ray cluster has {_describe(bundle)} for one host; ask for a smaller "
                              "instance type, or add such a node")


def _bundle(per_host: Resources) -> dict[str, float]:
    bundle = {"CPU": float(per_host.cpus), "memory": float(per_host.memory_mib * 1024 * 1024)}
    if per_host.gpus:
        bundle["GPU"] = float(per_host.gpus)
    return bundle


def _describe(bundle: dict[str, float]) -> str:
    text = f"{bundle['CPU']:g} CPU, {bundle['memory'] / 1024**2:.0f} MiB"
    return text + (f", {bundle['GPU']:g} GPU" if bundle.get("GPU") else "")
