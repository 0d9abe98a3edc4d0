"""The control plane's core: creates jobs, schedules them, ingests what runners report, reconciles
after a restart. The HTTP layer (mlyard.server.app) only translates to and from it."""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlyard import config, store
from mlyard.catalog import Catalog
from mlyard.compute import sandbox
from mlyard.compute.executor import Executor, Launch, NotPlaced, create_executor
from mlyard.compute.instance_types import Resources, lookup
from mlyard.compute.resources import Fitted, fit_request
from mlyard.compute.scheduler import Allocation, Scheduler
from mlyard.errors import ConflictError, NotFoundError, ValidationError
from mlyard.naming import name_from_base
from mlyard.runtime.runner import public_environment
from mlyard.runtime.runner_channel import ChannelWatch, RunnerChannel
from mlyard.runtime.state import TERMINAL
from mlyard.server import describe
from mlyard.server.buckets import check_s3_uri
from mlyard.server.controllers import Controller
from mlyard.server.endpoints import Endpoints, model_containers
from mlyard.server.functions import Functions
from mlyard.server.lineage import Lineage
from mlyard.server.pipelines import Pipelines
from mlyard.server.registry import Registry
from mlyard.server.tuning import Tunings
from mlyard.server.workflows import Workflows
from mlyard.store.paths import SourcePolicy, check_characters
from mlyard.validation import (
    PROCESSING_ENVIRONMENT,
    TRAINING_ENVIRONMENT,
    TRANSFORM_ENVIRONMENT,
    MapLimits,
    check_count,
    check_hyperparameters,
    check_map,
    check_name,
    check_strings,
)

__all__ = ["ControlPlane", "create_named"]

ACTIVE = ["InProgress", "Stopping"]
# A stopping runner has its grace period twice over, plus this, to end its hosts and upload what they
# wrote, before it is killed.
_STOP_SLACK_SECONDS = 5.0
_METRICS_READ = 4 * 1024 * 1024  # most bytes of metric points ingested in one pass


class ControlPlane:
    def __init__(self, home: Path, catalog: Catalog, store_root: str, executor: Executor | None = None) -> None:
        self.home = home
        self.catalog = catalog
        self.store_root = store_root
        # The buckets mlyard serves itself: the default one is the store's root (what jobs write by
        # default lands in it), the others are folders under the home. Runners get the table in their spec.
        self.default_bucket = config.default_bucket(home)
        store.set_buckets({**config.local_buckets(home), self.default_bucket: store_root})
        self.default_output = f"s3://{self.default_bucket}"
        self.runs_root = config.runs_root(home)  # runner channels
        self.executor = executor or create_executor()
        self.sources = SourcePolicy.from_environment(home, store_root)  # where local inputs may be read
        self.endpoints = Endpoints(home, catalog, self.sources, self.executor)
        self.functions = Functions(catalog, self.sources)  # what workflows' lambda:invoke tasks run, each in a job
        self.scheduler = Scheduler(self.executor.capacity())
        self.changed = threading.Condition()
        self.generation = 0
        self._async_waiters: set[tuple[Any, Any]] = set()
        self._wake = threading.Event()
        self._refresh = False  # the catalog changed: the loop reads it again when it wakes
        # A runner's write to its channel wakes the loop at once (where inotify is had).
        self._channels = ChannelWatch(self._wake.set)
        self._stop = threading.Event()
        self._seen: dict[str, tuple[int, int]] = {}
        self._thread: threading.Thread | None = None
        self.stop_grace = float(os.environ.get("MLYARD_STOP_GRACE_SECONDS", "30"))
        self._stopping_since: dict[str, float] = {}  # job -> when its stop was asked for (monotonic)
        self._killed: set[str] = set()
        self._deferred: dict[str, tuple[float, str]] = {}  # job -> (not before, why): the executor had no room
        self.tunings = Tunings(self)
        self.workflows = Workflows(self)
        self.pipelines = Pipelines(self)  # SageMaker pipelines: compiled to workflows, run by their engine
        self.registry = Registry(self)  # model package groups and versions; approval runs their rules
        self.lineage = Lineage(self)  # what each job, model, endpoint and package consumed and produced
        # Long-lived orchestrations that own child jobs, all driven alike (server/controllers.py).
        self.controllers: list[Controller] = [self.tunings, self.workflows]

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.reconcile()
        self._thread = threading.Thread(target=self._loop, name="mlyard-control", daemon=True)
        self._thread.start()
        for controller in self.controllers:
            controller.resume()

    def shutdown(self) -> None:
        for controller in self.controllers:
            controller.shutdown()
        self._stop.set()
        self._poke()
        if self._thread:
            self._thread.join(timeout=5)
        self._channels.close()
        self.executor.close()

    def reconcile(self) -> None:
        """After a (re)start: re-attach to live runners, fail jobs whose runner is gone."""
        for job in self.catalog.list_jobs(statuses=ACTIVE, limit=None):
            if job["runner"] is None:
                if job["secondary_status"] != "Pending":
                    self._recover_launch(job)  # the server stopped while launching it
                continue  # still queued: the scheduler starts it
            if job["allocation"]:
                self.scheduler.hold(job["name"], Allocation.from_json(job["allocation"]))
            self._ingest(job)

    def _recover_launch(self, job: dict[str, Any]) -> None:
        """A job claimed for launch, whose runner's handle was never recorded: adopt the runner if
        it runs, fail the job if it ran and vanished, queue it again if it never started."""
        state = RunnerChannel(job["job_dir"]).read_state()
        if state is None and job["status"] == "Stopping":  # stopped while it was launched: it never ran
            self._finish(job["name"], job, "Stopped", "Stopped", "Stopped before it started")
            return
        if state is None:
            self.catalog.update_job(job["name"], event=("InProgress", "Pending", "Queued again after a restart"),
                                    only_if={"runner": None}, secondary_status="Pending", allocation=None)
            return
        handle = self.executor.adopt(self._launch_of(job), state)
        if handle is None:  # it reported, and is gone: what it reported stands, else it failed
            if not (self._apply_state(job, state) and state["status"] in TERMINAL):
                self._finish(job["name"], job, "Failed", "Failed", "The job's runner ended without a result",
                             failure_reason="InternalServerError: the job's runner ended without reporting a "
                                            "result while the control plane restarted. Run the job again.")
            return
        self.catalog.update_job(job["name"], only_if={"runner": None}, runner=handle)
        job = self.catalog.get_job(job["name"])
        if job["allocation"]:
            self.scheduler.hold(job["name"], Allocation.from_json(job["allocation"]))
        self._ingest(job)

    # -- jobs -----------------------------------------------------------------------------------
    def create_training_job(self, req: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
        fitted = self.check_training_job(req)
        if "sagemaker_job_name" in req["HyperParameters"]:  # the framework's parameter names the job
            req["HyperParameters"]["sagemaker_job_name"] = json.dumps(req["TrainingJobName"])
        return self._create("training", req["TrainingJobName"], fitted, req["ResourceConfig"]["InstanceCount"], req,
                            parent=parent)

    def check_training_job(self, req: dict[str, Any]) -> Fitted:
        """Raise ValidationError for a training job that cannot run (normalizing its URIs); return
        its resources as fitted to this machine."""
        self._check_metric_definitions(req["AlgorithmSpecification"].get("MetricDefinitions") or [])
        seen_channels: set[str] = set()
        for ch in req["InputDataConfig"]:
            if ch["ChannelName"] in (".", ".."):
                raise ValidationError(f"channel name {ch['ChannelName']!r} is not allowed; use a name like 'train'")
            if ch["ChannelName"] in seen_channels:
                raise ValidationError(f"channel {ch['ChannelName']!r} is given twice")
            seen_channels.add(ch["ChannelName"])
            _file_system_channel(ch)
            self._check_input(f"channel {ch['ChannelName']!r}", ch["DataSource"]["S3DataSource"]["S3Uri"])
        hps = req["HyperParameters"]
        check_hyperparameters(hps)
        submit = hps.get("sagemaker_submit_directory")
        if submit is not None:
            try:
                uri = json.loads(submit) if submit.startswith('"') else submit
            except ValueError:
                uri = submit
            if not isinstance(uri, str):
                raise ValidationError(f"the job's source {uri!r} is not a URI; upload the source and name it")
            # Whether a path may be read is told before whether it exists: nothing is said of denied places.
            check_s3_uri("the job's source (sagemaker_submit_directory)", uri, need_key=True)
            self.sources.check("the job's source (sagemaker_submit_directory)", uri)
            if not store.exists(store.check_uri(uri)):
                raise ValidationError(f"the job's source {uri!r} does not exist; upload it before creating the job")
        what = "the job's output (OutputDataConfig.S3OutputPath)"
        req["OutputDataConfig"]["S3OutputPath"] = self.sources.check_destination(what, store.check_uri(check_s3_uri(
            what, (req["OutputDataConfig"].get("S3OutputPath") or self._default_output(req)).rstrip("/"))))
        if req.get("CheckpointConfig"):
            checkpoints = store.check_uri(check_s3_uri("the checkpoints (CheckpointConfig.S3Uri)",
                                                       req["CheckpointConfig"]["S3Uri"]))
            self.sources.check("the checkpoints (CheckpointConfig.S3Uri)", checkpoints)  # read at start,
            self.sources.check_destination("the checkpoints (CheckpointConfig.S3Uri)", checkpoints)  # then written
        rc = req["ResourceConfig"]
        return self._check_resources(req, rc["InstanceType"], rc["InstanceCount"], spread=_spreads("training", req))

    def create_processing_job(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["ProcessingJobName"]
        cfg = req["MlyardConfig"]
        self._check_metric_definitions(cfg.get("MetricDefinitions") or [])
        sandboxed = bool(cfg.get("Sandbox"))
        paths: list[tuple[str, str]] = []
        for inp in req["ProcessingInputs"]:
            s3 = inp["S3Input"]
            what = f"input {inp['InputName']!r}"
            s3["LocalPath"] = _check_local_path(what, s3["LocalPath"], sandboxed)
            self._check_input(what, s3["S3Uri"])
            paths.append((what, s3["LocalPath"]))
        _check_disjoint(paths, "inputs")
        outputs = req["ProcessingOutputConfig"]["Outputs"]
        out_paths = []
        for out in outputs:
            s3 = out["S3Output"]
            what = f"output {out['OutputName']!r}"
            s3["LocalPath"] = _check_local_path(what, s3["LocalPath"], sandboxed)
            s3["S3Uri"] = self.sources.check_destination(what, store.check_uri(check_s3_uri(
                what, s3.get("S3Uri") or store.join(self._default_output(req), name, "output", out["OutputName"]))))
            out_paths.append((what, s3["LocalPath"]))
        _check_disjoint(out_paths, "outputs")
        for kind, items in (("inputs", [i["InputName"] for i in req["ProcessingInputs"]]),
                            ("outputs", [o["OutputName"] for o in outputs])):
            dup = {n for n in items if items.count(n) > 1}
            if dup:
                raise ValidationError(f"{kind} names must be unique; {sorted(dup)} appear more than once")
        app = req["AppSpecification"]
        check_strings("ContainerEntrypoint", app["ContainerEntrypoint"], 100, 256)
        check_strings("ContainerArguments", app["ContainerArguments"], 256, 256)
        cc = req["ProcessingResources"]["ClusterConfig"]
        fitted = self._check_resources(req, cc["InstanceType"], cc["InstanceCount"], PROCESSING_ENVIRONMENT,
                                       spread=_spreads("processing", req))
        return self._create("processing", name, fitted, cc["InstanceCount"], req)

    def _default_output(self, req: dict[str, Any]) -> str:
        """Where a job's outputs go when the request names no destination: the submitting Session's
        default bucket and prefix (``MlyardConfig.DefaultOutput``), else the server's default bucket."""
        given = (req.get("MlyardConfig") or {}).get("DefaultOutput")
        if not given:
            return self.default_output
        if not given.startswith("s3://"):
            raise ValidationError(f"MlyardConfig.DefaultOutput {given!r} must be an s3://bucket[/prefix] URI")
        return check_s3_uri("the session's default bucket (MlyardConfig.DefaultOutput)", given.rstrip("/"))

    def create_transform_job(self, req: dict[str, Any]) -> dict[str, Any]:
        from mlyard.runtime.records import parse_jsonpath

        name = req["TransformJobName"]
        model = self.endpoints.objects.get("model", req["ModelName"], "model")["spec"]
        self._check_input("transform input", req["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"])
        out = req["TransformOutput"]
        what = "transform output (S3OutputPath)"
        out["S3OutputPath"] = self.sources.check_destination(what, store.check_uri(check_s3_uri(
            what, (out.get("S3OutputPath") or store.join(self._default_output(req), name, "output")).rstrip("/"))))
        for key in ("InputFilter", "OutputFilter"):
            path = (req.get("DataProcessing") or {}).get(key)
            if path:
                try:
                    parse_jsonpath(path)
                except ValueError as exc:
                    raise ValidationError(f"{key}: {exc}") from exc
        req["ModelSpec"] = {"Containers": model_containers(model)}
        res = req["TransformResources"]
        fitted = self._check_resources(req, res["InstanceType"], res["InstanceCount"], TRANSFORM_ENVIRONMENT,
                                       spread=_spreads("transform", req))
        return self._create("transform", name, fitted, res["InstanceCount"], req)

    def create_bucket(self, name: str) -> str:
        """Make ``name`` a local bucket (idempotent); return its root."""
        with self.changed:  # two creates at once: neither loses the other's bucket
            table = store.buckets()
            if name not in table:
                table[name] = config.bucket_root(config.check_bucket_name(name), self.home)
                store.set_buckets(table)
            return table[name]

    def _check_metric_definitions(self, defs: list[dict[str, Any]]) -> None:
        for d in defs:
            try:
                re.compile(d["Regex"])
            except re.error as exc:
                raise ValidationError(f"metric definition {d['Name']!r} has an invalid Regex {d['Regex']!r}: "
                                      f"{exc}") from exc

    def _check_resources(self, req: dict[str, Any], instance_type: str, count: int,
                         env_limits: MapLimits = TRAINING_ENVIRONMENT, spread: bool = True) -> Fitted:
        """What every job kind checks: its environment, instances and sandbox."""
        check_map("environment variable", req.get("Environment") or {}, env_limits)
        check_count("instance count", count)
        # Runners may run on other machines: they must reach the channels and the store from there.
        self.executor.check_reachable({"the runner channels' root (MLYARD_RUNS)": self.runs_root,
                                       "the store (MLYARD_STORE)": self.store_root})
        itype = lookup(instance_type)
        node = self.executor.largest_node(itype.resources)  # what one host can have; all of them, if they stay together
        if not spread:
            node = Resources(node.cpus / count, node.memory_mib // count, node.gpus // count)
        fitted = fit_request(itype, count, self.executor.capacity(), node, self.executor.elastic)
        problem = sandbox.sandbox_problem() if req["MlyardConfig"].get("Sandbox") else None
        if problem:
            raise ValidationError(problem)
        return fitted

    def _create(self, kind: str, name: str, fitted: Fitted, count: int, req: dict[str, Any],
                parent: str | None = None) -> dict[str, Any]:
        warnings = [fitted.warning] if fitted.warning else []
        self.catalog.insert_job({
            "name": name, "kind": kind, "parent": parent, "status": "InProgress", "secondary_status": "Pending",
            "spec": req,
            "result": {"warnings": warnings, "per_host": _res_json(fitted.per_host), "hosts": count},
            "job_dir": f"{self.runs_root}/{name}",  # the job's runner channel
        }, "Waiting for resources" + (f" ({fitted.warning})" if fitted.warning else ""))
        self._poke()
        return self.describe(name)

    def _check_input(self, what: str, uri: str) -> None:
        check_s3_uri(what, uri)
        self.sources.check(what, uri)
        try:
            objects = store.list_objects(uri)
        except ValidationError:
            raise
        except Exception as exc:
            raise ValidationError(f"{what}: cannot read {uri!r}: {exc}") from exc
        if not objects:
            state = "is empty" if store.exists(uri) else "does not exist"
            raise ValidationError(f"{what}: {uri!r} {state}. Point it at a file or a folder "
                                  "with data (file:///abs/path or a store URI).")

    def job_exists(self, name: str) -> bool:
        try:
            self.catalog.get_job(name)
        except NotFoundError:
            return False
        return True

    def describe(self, name: str, kind: str | None = None) -> dict[str, Any]:
        """The job's description; with ``kind``, only if it is a job of that kind (SageMaker's
        DescribeProcessingJob does not find a training job of that name)."""
        row = self.get_job(name, kind)
        placement = self.executor.placement(row["runner"], _hosts(row)) if row["runner"] else None
        return describe.job(row, self.catalog.events(name), self.catalog.final_metrics(name), placement)

    def get_job(self, name: str, kind: str | None = None) -> dict[str, Any]:
        """The job's row; NotFoundError if there is none, or (with ``kind``) it is of another kind."""
        job = self.catalog.get_job(name)
        if kind is not None and job["kind"] != kind:
            raise NotFoundError(f"no {kind} job named {name!r} ({name!r} is a {job['kind']} job); "
                                f"`mlyard jobs list --kind {kind}` shows the {kind} jobs there are")
        return job

    def list_jobs(self, kind: str | None, status: str | None, limit: int,
                  name_contains: str | None = None) -> list[dict[str, Any]]:
        statuses = [status] if status else None
        return [describe.summary(j) for j in self.catalog.list_jobs(kind, statuses, limit, name_contains)]

    def stop(self, name: str, message: str = "Stop requested", kind: str | None = None) -> dict[str, Any]:
        job = self.get_job(name, kind)
        if job["status"] in TERMINAL:
            raise ConflictError(f"job {name!r} already ended ({job['status']}); there is nothing to stop")
        # A queued job stops at once; the scheduler claims a job (Pending -> Starting) before it
        # launches one, so the two never both win.
        if self.catalog.update_job(
                name, event=("Stopped", "Stopped", "Stopped before it started"), only_if_status=["InProgress"],
                only_if={"runner": None, "secondary_status": "Pending"},
                status="Stopped", secondary_status="Stopped", ended_at=time.time()):
            self.notify()
            return self.describe(name)
        self.catalog.update_job(name, event=("Stopping", "Stopping", message),
                                only_if_status=["InProgress"], status="Stopping", secondary_status="Stopping")
        self._stopping_since.setdefault(name, time.monotonic())
        job = self.catalog.get_job(name)
        if job["runner"] is not None:  # else _launch delivers the stop once the runner exists
            RunnerChannel(job["job_dir"]).request_stop()
        self.notify()
        return self.describe(name)

    async def wait(self, name: str, timeout: float, kind: str | None = None) -> dict[str, Any]:
        """The job's description once it has ended, or after ``timeout`` seconds."""
        return await self.wait_until(lambda: self.describe(name, kind), lambda d: describe.status(d) in TERMINAL,
                                     timeout)

    async def wait_until(self, describe_fn: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool],
                         timeout: float, poll: float = 0.5) -> dict[str, Any]:
        """``describe_fn()`` once ``done`` says so of it, or after ``timeout`` seconds. It is
        described again when some job's state changes, or every ``poll`` seconds (for what does
        not announce its changes); no thread is held meanwhile."""
        import asyncio

        from starlette.concurrency import run_in_threadpool

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            generation = self.generation
            desc = await run_in_threadpool(describe_fn)
            left = deadline - loop.time()
            if done(desc) or left <= 0:
                return desc
            await self.changed_since(generation, min(left, poll))

    def metrics(self, name: str, metric_name: str | None) -> list[dict[str, Any]]:
        self.catalog.get_job(name)
        return self.catalog.metrics(name, metric_name)

    def log_channel(self, name: str) -> tuple[RunnerChannel, list[str], bool]:
        """The job's runner channel (its hosts' logs are ``logs/<host>.log`` in it), its hosts, and
        whether the job has ended."""
        job = self.catalog.get_job(name)
        return RunnerChannel(job["job_dir"]), _hosts(job), job["status"] in TERMINAL

    # -- the loop -------------------------------------------------------------------------------
    def _poke(self) -> None:
        """Wake the loop to read the catalog again (a job was created or ended)."""
        self._refresh = True
        self._wake.set()

    def notify(self) -> None:
        with self.changed:
            self.generation += 1
            self.changed.notify_all()
            for loop, event in list(self._async_waiters):
                loop.call_soon_threadsafe(event.set)

    def wait_changed(self, since: int, timeout: float) -> int:
        """Block until some job's state changed after generation ``since`` (or ``timeout``)."""
        with self.changed:
            self.changed.wait_for(lambda: self.generation != since, timeout)
            return self.generation

    async def changed_since(self, since: int, timeout: float) -> int:
        """Wait, without holding a thread, until some job's state changed after generation
        ``since`` (or ``timeout``); return the current generation."""
        import asyncio

        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self.changed:
            if self.generation != since:
                return self.generation
            self._async_waiters.add(waiter)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self.changed:
                self._async_waiters.discard(waiter)
        return self.generation

    def _loop(self) -> None:
        """Schedule queued jobs and ingest what runners report. The catalog is read again when
        something happened (a job created, stopped or ended) or once a second; in between only the
        runners' files are looked at: every 10 ms while a job is young (short jobs end fast), every
        20 ms to 100 ms after (the more jobs run, the less often), so the loop stays cheap while
        long jobs use the CPUs."""
        last_refresh = last_liveness = 0.0
        active: list[dict[str, Any]] = []
        seen_generation = self.generation
        while not self._stop.is_set():
            self._wake.clear()
            woken, self._refresh = self._refresh, False
            queued = False
            try:
                now = time.monotonic()
                if self.generation != seen_generation:
                    seen_generation = self.generation
                    for controller in self.controllers:
                        controller.changed()
                if woken or now - last_refresh > 1.0:
                    queued = self._schedule()
                    for controller in self.controllers:
                        controller.tick()
                    active = [j for j in self.catalog.list_jobs(statuses=ACTIVE, limit=None)
                              if j["runner"] is not None]
                    last_refresh = now
                check = now - last_liveness > 1.0
                for job in active:
                    self._ingest(job, check_liveness=check)
                if check:
                    last_liveness = now
            except Exception:  # keep the control plane alive; the error is logged for the operator
                import traceback

                traceback.print_exc()
            folders = {RunnerChannel(j["job_dir"]).local for j in active}
            watched = None not in folders and self._channels.watch({f for f in folders if f is not None})
            young = any(time.time() - (j["started_at"] or 0) < 2.0 for j in active)
            # Watched channels wake the loop when their runner writes; it still looks every 100 ms
            # (a channel on a shared file system is written by other machines, unseen by inotify).
            # Otherwise a job's end is seen within 20 ms while few run; with many, each look costs
            # more and the interval grows with them (to 100 ms at 40 jobs).
            self._wake.wait((0.1 if watched else 0.01 if young else min(0.1, 0.02 + 0.002 * len(active)))
                            if active else 0.1 if queued else 0.5)

    def _schedule(self) -> bool:
        queued = [j for j in self.catalog.list_jobs(statuses=["InProgress"], limit=None)
                  if j["runner"] is None and j["secondary_status"] == "Pending"]
        if queued:
            self.scheduler.capacity = self.executor.capacity()  # what the executor has now (nodes come and go)
        names = {j["name"] for j in queued}
        self._deferred = {n: d for n, d in self._deferred.items() if n in names}  # forget those stopped meanwhile
        now = time.monotonic()
        for job in sorted(queued, key=lambda j: j["created_at"]):
            if self._deferred.get(job["name"], (0.0, ""))[0] > now:
                continue  # the executor had no room for it a moment ago
            per_host = Resources(**job["result"]["per_host"])
            count = int(job["result"]["hosts"])
            alloc = self.scheduler.try_admit(job["name"], per_host, count)
            if alloc is not None:
                self._launch(job, alloc)
        return bool(queued)

    def _launch(self, job: dict[str, Any], alloc: Allocation) -> None:
        name = job["name"]
        starting = ("InProgress", "Starting", "Starting the job's runner")
        retry = name in self._deferred  # its claim and requeue were recorded once: not on every try
        if not self.catalog.update_job(
                name, event=None if retry else starting, only_if_status=["InProgress"],
                only_if={"runner": None, "secondary_status": "Pending"},
                secondary_status="Starting", allocation=alloc.to_json(), started_at=time.time()):
            self.scheduler.release(name)  # stopped meanwhile
            return
        channel = RunnerChannel(job["job_dir"])
        req = job["spec"]
        output = (req.get("OutputDataConfig") or {}).get("S3OutputPath") or self.default_output
        spec = {
            "kind": job["kind"], "job_name": name, "request": req,
            "hosts": _host_names(alloc.hosts),
            "per_host": _res_json(alloc.per_host), "gpu_ids": alloc.gpu_ids,
            "model_artifacts_uri": store.join(output, name, "output", "model.tar.gz"),
            "output_artifacts_uri": store.join(output, name, "output", "output.tar.gz"),
            "sandbox": bool(req.get("MlyardConfig", {}).get("Sandbox")),
            "env_cache": str(self.home / "envs"), "mlyard_home": str(self.home), "store_root": self.store_root,
            "stop_grace_seconds": self.stop_grace, "sources": self.sources.to_json(), "buckets": store.buckets(),
            "model": req.get("ModelSpec"),
            "executor": self.executor.config(),  # what a transform job's runner starts its model servers through
        }
        try:
            channel.create()
            channel.write_spec(spec)
            handle = self.executor.start(self._launch_of(job, alloc))
        except NotPlaced as exc:
            self._requeue(name, job, exc)
            return
        except (OSError, ValidationError) as exc:
            self._finish(name, job, "Failed", "Failed", "The job's runner could not be started",
                         failure_reason=f"InternalServerError: cannot start the job's runner: {exc}")
            return
        self._deferred.pop(name, None)
        self.catalog.update_job(name, event=starting if retry else None, runner=handle)
        if self.catalog.get_job(name)["status"] == "Stopping":  # stopped while it was launched
            channel.request_stop()
        self.notify()

    def _requeue(self, name: str, job: dict[str, Any], exc: NotPlaced) -> None:
        """The executor has no room for a claimed job now: back to the queue, saying why (once per
        reason), until ``exc.retry_after`` has passed."""
        self.scheduler.release(name)
        reason = f"Waiting for resources: {exc}"
        said = self._deferred.get(name, (0.0, ""))[1]
        self._deferred[name] = (time.monotonic() + exc.retry_after, reason)
        if not self.catalog.update_job(name, event=None if said == reason else ("InProgress", "Pending", reason),
                                       only_if_status=["InProgress"], only_if={"runner": None},
                                       secondary_status="Pending", allocation=None, started_at=None):
            self._finish(name, job, "Stopped", "Stopped", "Stopped before it started")  # stopped meanwhile

    def _launch_of(self, job: dict[str, Any], alloc: Allocation | None = None) -> Launch:
        """What the executor is told of ``job`` (its allocation, or the one recorded)."""
        if alloc is None:
            alloc = Allocation.from_json(job["allocation"]) if job["allocation"] else Allocation(
                Resources(**job["result"]["per_host"]), int(job["result"]["hosts"]), None)
        return Launch(name=job["name"], channel=job["job_dir"],
                      hosts=_host_names(alloc.hosts), per_host=alloc.per_host,
                      env=public_environment(),
                      spread=_spreads(job["kind"], job["spec"]),
                      agents=job["kind"] != "transform")  # a transform job's runner starts its model servers

    def _ingest(self, job: dict[str, Any], check_liveness: bool = True) -> None:
        name = job["name"]
        channel = RunnerChannel(job["job_dir"])
        self._ingest_metrics(job, channel)
        sig = channel.signature("state.json")
        state = None
        if sig is not None and sig != self._seen.get(name):
            state = channel.read_state()
            if state is not None and self._apply_state(job, state):
                self._seen[name] = sig
                if state["status"] in TERMINAL:
                    return
        if check_liveness:
            handle = job["runner"]
            if job["status"] == "Stopping":
                self._escalate(name, handle)
            if not self.executor.alive(handle):
                state = channel.read_state()
                if state is not None and self._apply_state(job, state) and state["status"] in TERMINAL:
                    return
                if self.catalog.get_job(name)["status"] == "Stopping":
                    message = ("The job did not stop within its grace period and was killed"
                               if name in self._killed else "The job's runner ended while it was stopping")
                    self._finish(name, job, "Stopped", "Stopped", message)
                    return
                self._finish(name, job, "Failed", "Failed", "The job's runner ended without a result",
                             failure_reason=(f"InternalServerError: {self.executor.runner_text(handle)} ended "
                                             "without reporting a result: it was killed, or its machine "
                                             "restarted. Run the job again."))

    def _escalate(self, name: str, handle: dict[str, Any]) -> None:
        """A stop that the runner has not carried out within the grace period (plus time to upload
        what the job wrote) ends in SIGKILL for the runner and everything it started."""
        since = self._stopping_since.setdefault(name, time.monotonic())  # after a restart: from now
        if name not in self._killed and time.monotonic() - since > 2 * self.stop_grace + _STOP_SLACK_SECONDS:
            self._killed.add(name)
            self.executor.kill(handle)

    def _ingest_metrics(self, job: dict[str, Any], channel: RunnerChannel | None = None) -> None:
        offset = int(job["metrics_offset"] or 0)
        data = (channel or RunnerChannel(job["job_dir"])).read("metrics.jsonl", offset, _METRICS_READ)
        end = data.rfind(b"\n") + 1
        if end == 0:
            return
        rows = []
        for line in data[:end].splitlines():
            try:
                rec = json.loads(line)
                rows.append({"host": str(rec["host"]), "name": str(rec["name"]), "value": float(rec["value"]),
                             "timestamp": float(rec["timestamp"])})
            except (ValueError, KeyError, TypeError):
                continue
        self.catalog.add_metrics(job["name"], rows, offset + end)
        job["metrics_offset"] = offset + end

    def _apply_state(self, job: dict[str, Any], state: dict[str, Any]) -> bool:
        """Bring the catalog up to a runner's ``state.json``; False if the job changed meanwhile
        (a stop landed): the next pass tries again."""
        name = job["name"]
        current = self.catalog.get_job(name)
        if current["status"] in TERMINAL:
            return True
        result = dict(current["result"])
        done = int(result.get("events_ingested", 0))
        transitions = state.get("transitions") or []
        events = [(tr["status"], tr["secondary_status"], tr["message"]) for tr in transitions[done:]]
        result["events_ingested"] = len(transitions)
        for key in ("model_artifacts", "output_artifacts", "exit_message", "events"):
            if state.get(key):
                result[key] = state[key]
        result["warnings"] = list(dict.fromkeys((result.get("warnings") or []) + (state.get("warnings") or [])))
        status = state["status"]
        secondary = state["secondary_status"]
        if current["status"] == "Stopping" and status == "InProgress":
            status, secondary = "Stopping", "Stopping"
        fields: dict[str, Any] = {"status": status, "secondary_status": secondary, "result": result}
        if state.get("failure_reason"):
            fields["failure_reason"] = state["failure_reason"]
        if state.get("started_at"):
            fields["started_at"] = state["started_at"]
        if status in TERMINAL:
            self._ingest_metrics(current)  # what the runner wrote before it reported the end
            fields["ended_at"] = state.get("ended_at") or time.time()
        if not self.catalog.update_job(name, events=events, only_if_status=[current["status"]], **fields):
            return False
        if status in TERMINAL:
            self._ended(name)
        else:
            self.notify()
        return True

    def _finish(self, name: str, job: dict[str, Any], status: str, secondary: str, message: str,
                **fields: Any) -> None:
        self.catalog.update_job(name, event=(status, secondary, message), only_if_status=ACTIVE,
                                status=status, secondary_status=secondary, ended_at=time.time(), **fields)
        self._ended(name)

    def _ended(self, name: str) -> None:
        """A job has ended: free its resources, forget its files, tell waiters and the scheduler."""
        self.scheduler.release(name)
        self._deferred.pop(name, None)
        handle = self.catalog.get_job(name)["runner"]
        if handle is not None:
            self.executor.release(handle)  # the executor lets go of what it holds for the job
        self._seen.pop(name, None)
        self._stopping_since.pop(name, None)
        self._killed.discard(name)
        self.notify()
        self._poke()


def _file_system_channel(channel: dict[str, Any]) -> None:
    """A ``FileSystemDataSource`` channel (SageMaker's EFS/FSx) reads its ``DirectoryPath``, a
    folder on this machine, in place: it gets the ``S3DataSource`` of that folder, which the
    source policy checks and the runner reads like any local input (only read: the SDK warns
    that ``rw`` is not applied)."""
    source = channel["DataSource"]
    fs = source.get("FileSystemDataSource")
    if fs is None:
        source.pop("FileSystemDataSource", None)
        return
    path = fs["DirectoryPath"]
    if not os.path.isabs(path):
        raise ValidationError(f"channel {channel['ChannelName']!r}: FileSystemInput directory_path {path!r} must "
                              "be an absolute path of a folder on the server's machine")
    source["S3DataSource"] = {"S3Uri": "file://" + os.path.normpath(path), "S3DataType": "S3Prefix",
                              "S3DataDistributionType": "FullyReplicated"}


def _spreads(kind: str, req: dict[str, Any]) -> bool:
    """Whether a job's hosts may run on different machines: training and processing hosts may (each
    through a host agent), and a transform job's model servers (services of the executor, which its
    runner starts where the job's reservation for each lies); a sandboxed job's hosts stay with the
    runner that sets their limits."""
    return kind in ("training", "processing", "transform") and not (req.get("MlyardConfig") or {}).get("Sandbox")


def _hosts(job: dict[str, Any]) -> list[str]:
    return _host_names(int(job["result"].get("hosts", 1)))


def _host_names(count: int) -> list[str]:
    return [f"algo-{i + 1}" for i in range(count)]


def _res_json(r: Resources) -> dict[str, Any]:
    return {"cpus": r.cpus, "memory_mib": r.memory_mib, "gpus": r.gpus}


def _check_local_path(what: str, path: str, sandboxed: bool) -> str:
    """A processing input's or output's path inside the instance: absolute, normalized."""
    check_characters(f"{what}: path", path)
    if not path.startswith("/"):
        raise ValidationError(f"{what}: path {path!r} must be absolute, e.g. /opt/ml/processing/input")
    norm = os.path.normpath(path)
    if norm in ("/", "/opt", "/opt/ml") or norm.startswith(("/proc", "/dev", "/sys")):
        raise ValidationError(f"{what}: path {path!r} is reserved; use a folder under /opt/ml/processing/")
    if not norm.startswith("/opt/ml/") and sandboxed:
        raise ValidationError(f"{what}: path {path!r} is outside /opt/ml; a sandboxed job can only use paths "
                              "under /opt/ml/processing/")
    return norm


def _check_disjoint(paths: list[tuple[str, str]], kind: str) -> None:
    # Nesting is allowed (SageMaker's own samples put the code input inside the data input's folder).
    for i, (what, p) in enumerate(paths):
        for other, q in paths[i + 1:]:
            if p == q:
                raise ValidationError(f"{what} and {other} both use {p!r}; give each of the {kind} a folder "
                                      "of its own")


def create_named(req: dict[str, Any], key: str, create: Callable[[dict[str, Any]], dict[str, Any]],
                 exists: Callable[[str], bool], default_base: str, max_length: int = 63,
                 short: bool = False) -> dict[str, Any]:
    """``create(req)`` under the name ``req[key]``; without one, under a name the server picks
    from ``MlyardConfig.BaseName`` (else ``default_base``) as ``mlyard.utils.name_from_base``
    does, picking again if another request took it meanwhile. Every client gets default names of
    one shape, and none retries: the create response names what was created."""
    if req.get(key):
        return create(req)
    base = (req.get("MlyardConfig") or {}).get("BaseName") or default_base
    for attempt in range(5):
        named = copy.deepcopy(req)  # a refused attempt may have filled in defaults from its name
        named[key] = name = check_name(f"the name made from the base name {base!r}",
                                       name_from_base(base, max_length, short), max_length)
        try:
            return create(named)
        except ConflictError:
            if attempt == 4 or not exists(name):  # another conflict than the name's
                raise
    raise AssertionError("unreachable")
