"""The batch transform runner: model server instances, records through them, ``<input>.out``."""

from __future__ import annotations

import concurrent.futures
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from mlyard import store
from mlyard.compute.executor import Executor, Handle, Service, create_executor
from mlyard.compute.instance_types import Resources
from mlyard.errors import ValidationError
from mlyard.runtime import records
from mlyard.runtime.channels import assign, read, resolve_objects, source_policy
from mlyard.runtime.runner import JobFailure, JobRunner, job_environment
from mlyard.runtime.runner_channel import RunnerChannel
from mlyard.serving.artifacts import materialize_containers

__all__ = ["TransformRunner"]

_FILTERABLE = ("application/json", "text/csv", "application/jsonlines")


class TransformRunner(JobRunner):
    kind = "transform"

    def __init__(self, channel: RunnerChannel, job_dir: Path, spec: dict[str, Any]) -> None:
        super().__init__(channel, job_dir, spec)
        req = self.request
        self.input = req["TransformInput"]
        self.output = req["TransformOutput"]
        self.strategy = req.get("BatchStrategy") or "MultiRecord"
        self.max_payload = int(float(req.get("MaxPayloadInMB") or 6) * 1024 * 1024)
        self.concurrency = int(req.get("MaxConcurrentTransforms") or 1)
        self.processing = req.get("DataProcessing") or {}
        self.content_type = self.input.get("ContentType") or "application/json"
        # No Accept given: none is sent, and the model server answers in its default type (as
        # SageMaker's containers do: JSON for TensorFlow Serving's), not in the input's type.
        self.accept: str | None = self.output.get("Accept") or None
        self.services: dict[str, Handle] = {}  # host -> the executor's handle of its model server
        self.addresses: dict[str, tuple[str, int]] = {}  # host -> where its model server listens
        self.model_dir = job_dir / "model"
        self.sources = source_policy(spec)

    # -- preparing ------------------------------------------------------------------------------
    def prepare(self) -> list[tuple[str, list[str], dict[str, str], str | None, bool]]:
        self.state.transition("InProgress", "Downloading", "Downloading the model")
        model = self.spec["model"]
        model_dir = self.job_dir / "model"
        try:
            env = materialize_containers(model["Containers"], model_dir, self.job_dir / "work", self.sources)
        except ValidationError as exc:  # model data the job may not read, or a link leading out of it
            raise JobFailure(f"ClientError: {exc}") from exc
        env.update(self.request.get("Environment") or {})
        env.update({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(self.max_payload / 2**20),
                    "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD" if self.strategy == "SingleRecord"
                    else "MULTI_RECORD", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(self.concurrency)})
        self.model_dir = model_dir
        commands: list[tuple[str, list[str], dict[str, str], str | None, bool]] = []
        for host in self.hosts:
            cmd = [sys.executable, "-m", "mlyard", "serve", str(model_dir), "--port", "0", "--max-batch-size", "1024"]
            commands.append((host, cmd, job_environment(env), str(self.job_dir), False))
        return commands

    # -- running --------------------------------------------------------------------------------
    def _run_hosts(self, commands: list[tuple[str, list[str], dict[str, str], str | None, bool]]
                   ) -> tuple[str, str | None]:
        """Start each host's model server as a service of the executor (in what the job reserved for
        that host: on a cluster, on the host's node), send them the records, stop them."""
        config = self.spec.get("executor") or {"name": "local"}
        executor = create_executor(config["name"], config.get("address"), warm=False)
        per_host = self.spec.get("per_host") or {}
        resources = Resources(float(per_host.get("cpus", 1)), int(per_host.get("memory_mib", 1024)),
                              int(per_host.get("gpus", 0)))
        try:
            for index, (host, cmd, env, _cwd, _wrapped) in enumerate(commands):
                self.services[host] = executor.start_service(Service(
                    f"{self.name}-{host}", cmd, env, str(self.job_dir / "work" / f"{host}.log"), resources,
                    files=str(self.model_dir), channel_log=(self.channel.uri, f"logs/{host}.log"),
                    job_host=(self.name, host, index)))
            self._wait_ready(executor)
            self.state.transition("InProgress", "InProgress", "Transforming on " + ", ".join(self.hosts))
            return self._transform()
        except JobFailure as exc:
            return "Failed", str(exc)[:1024]
        finally:
            for handle in self.services.values():
                executor.stop_service(handle, signal.SIGTERM)
            deadline = time.monotonic() + self.grace
            while any(executor.service_alive(h) for h in self.services.values()) and time.monotonic() < deadline:
                time.sleep(0.05)
            for handle in self.services.values():
                executor.stop_service(handle, signal.SIGKILL)
            executor.close()

    def _wait_ready(self, executor: Executor) -> None:
        deadline = time.monotonic() + 300
        for host, handle in self.services.items():
            while (address := executor.service_address(handle)) is None:
                if not executor.service_alive(handle):
                    tail = self.channel.read(f"logs/{host}.log", 0, 1 << 20).decode(errors="replace").strip()[-800:]
                    raise JobFailure(f"ClientError: the model server of {host} did not start: {tail}")
                if time.monotonic() > deadline or self.stop_requested.is_set():
                    raise JobFailure("ClientError: the model servers did not start in time")
                time.sleep(0.05)
            self.addresses[host] = address

    def _transform(self) -> tuple[str, str | None]:
        src = self.input["DataSource"]["S3DataSource"]
        try:
            objects = resolve_objects(src["S3Uri"], src.get("S3DataType") or "S3Prefix", self.sources,
                                      "the transform input")
        except ValidationError as bad:
            raise JobFailure(f"ClientError: {bad}") from bad
        if not objects:
            raise JobFailure(f"ClientError: the input {src['S3Uri']!r} holds no objects")
        work = [(host, obj) for host, objs in assign(objects, self.hosts, "ShardedByS3Key").items() for obj in objs]
        workers = self.concurrency * len(self.hosts)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool, httpx.Client(timeout=120.0) as http:
            futures = {pool.submit(self._object, http, host, uri, key): key for host, (uri, key) in work}
            failed = None
            for future in concurrent.futures.as_completed(futures):
                if self.stop_requested.is_set():
                    pool.shutdown(cancel_futures=True)
                    return "Stopped", None
                exc = future.exception()
                if exc is not None and failed is None:
                    failed = f"ClientError: {futures[future]}: {exc}"
                    pool.shutdown(cancel_futures=True)
            if failed:
                return "Failed", failed[:1024]
        return "Completed", None

    def _object(self, http: httpx.Client, host: str, uri: str, key: str) -> None:
        if self.stop_requested.is_set():
            return
        split = self.input.get("SplitType") or "None"
        try:
            recs = records.split_records(read(uri, key, self.sources), split)
        except ValueError as exc:
            raise JobFailure(str(exc)) from exc
        filtering = any(self.processing.get(k) not in (None, "$", "None")
                        for k in ("InputFilter", "OutputFilter", "JoinSource"))
        if filtering and self.content_type not in _FILTERABLE:
            raise JobFailure(f"DataProcessing works on JSON and CSV; the input is {self.content_type}")
        inputs = [records.parse_record(r, self.content_type) for r in recs] if filtering else None
        sent = recs
        if filtering and self.processing.get("InputFilter") not in (None, "$"):
            assert inputs is not None
            sent = [records.render_record(records.jsonpath(v, self.processing["InputFilter"]), self.content_type)
                    for v in inputs]
        outputs: list[bytes] = []
        done = 0
        address, port = self.addresses[host]
        url = f"http://{address}:{port}/invocations"
        for batch in records.mini_batches(sent, self.strategy, self.max_payload, split):
            headers = {"Content-Type": self.content_type}
            if self.accept:
                headers["Accept"] = self.accept
            resp = http.post(url, content=records.join_payload(batch, split), headers=headers)
            if resp.status_code >= 400:
                raise JobFailure(f"the model answered {resp.status_code} for records {done + 1}-{done + len(batch)}: "
                                 f"{resp.text[:300]}")
            if filtering:
                assert inputs is not None
                per_record = records.split_response(resp.content, resp.headers.get("content-type", ""), len(batch))
                if per_record is None:
                    raise JobFailure("the model's response cannot be split into one output per record, which "
                                     "join_source/output_filter need; answer with CSV lines or a JSON list")
                for value, output in zip(inputs[done:done + len(batch)], per_record, strict=True):
                    joined = records.join(value, output, self.content_type) \
                        if self.processing.get("JoinSource") == "Input" else output
                    if self.processing.get("OutputFilter") not in (None, "$"):
                        joined = records.jsonpath(joined, self.processing["OutputFilter"])
                    answered = resp.headers.get("content-type", "").split(";")[0].strip()
                    joined_type = (self.content_type if self.processing.get("JoinSource") == "Input"
                                   else self.accept or answered or self.content_type)
                    outputs.append(records.render_record(joined, joined_type))
            else:
                outputs.append(resp.content)
            done += len(batch)
        line = self.output.get("AssembleWith") == "Line"
        body = b"".join(o if not line or o.endswith(b"\n") else o + b"\n" for o in outputs)
        # Written whole, after every record succeeded: an .out never holds a partial result.
        store.upload_bytes(body, store.join(self.output["S3OutputPath"], key + ".out"))
