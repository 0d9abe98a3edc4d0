"""Models, endpoint configurations and endpoints in the control plane.

An endpoint runs as a detached endpoint runner (mlyard.serving.endpoint) that outlives the
server; its ``state.json`` is the truth about it, read when the endpoint is described.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from mlyard import store
from mlyard.catalog import Catalog, Objects
from mlyard.compute.executor import Executor
from mlyard.compute.instance_types import lookup
from mlyard.errors import ConflictError, NotFoundError, ValidationError
from mlyard.runtime.runner import public_environment
from mlyard.runtime.runner_channel import RunnerChannel
from mlyard.server.buckets import check_s3_uri
from mlyard.server.describe import arn, iso
from mlyard.serving.auth import endpoint_network, new_token
from mlyard.store.archive import check_tar
from mlyard.store.paths import SourcePolicy
from mlyard.validation import MODEL_ENVIRONMENT, check_map

__all__ = ["Endpoints"]

_ENDED = ("Failed", "Deleted")


class Endpoints:
    def __init__(self, home: Path, catalog: Catalog, sources: SourcePolicy,
                 executor: Executor | None = None) -> None:
        self.home = home
        self.sources = sources
        self.objects = Objects(catalog)
        self.executor = executor  # what instances start through (the endpoint runner builds its own)
        self._children: list[subprocess.Popen[bytes]] = []

    # -- models ----------------------------------------------------------------------------------
    def create_model(self, req: dict[str, Any]) -> dict[str, Any]:
        if (req.get("PrimaryContainer") is None) == (req.get("Containers") is None):
            raise ValidationError("a model has a PrimaryContainer, or Containers (a serial inference pipeline, "
                                  "each container's output the next one's input): give exactly one of them")
        containers = model_containers(req)
        for i, container in enumerate(containers):
            what = f"container {i + 1} of {len(containers)}: " if len(containers) > 1 else ""
            self._check_container(what, container)
        self.objects.insert("model", req["ModelName"], req, what="model")
        return self.describe_model(req["ModelName"])

    def _check_container(self, what: str, container: dict[str, Any]) -> None:
        url = container.get("ModelDataUrl")
        check_map("environment variable", container.get("Environment") or {}, MODEL_ENVIRONMENT)
        if url:
            check_s3_uri(f"{what}ModelDataUrl", url, need_key=True)
            self.sources.check(f"{what}ModelDataUrl", url)  # before whether it exists: nothing is said of denied places
            if not store.exists(store.check_uri(url)):
                raise ValidationError(f"{what}ModelDataUrl {url!r} does not exist")
        local = store.local_path(url) if url else None
        if local is not None and not local.is_dir():
            try:
                check_tar(local)
            except ValidationError as exc:
                raise ValidationError(f"{what}ModelDataUrl {url!r}: {exc} (a model is a model.tar.gz or a "
                                      "folder)") from None
        source = container.get("SourceUrl")
        if source:
            check_s3_uri(f"{what}the model's inference code (SourceUrl)", source, need_key=True)
        if source and not store.exists(store.check_uri(source)):
            raise ValidationError(f"{what}the model's inference code {source!r} does not exist")
        if source:
            self.sources.check(f"{what}the model's inference code (SourceUrl)", source)
        if not url and not source:
            raise ValidationError(f"{what}the model needs model_data (a model.tar.gz or a model folder) or "
                                  "inference code")

    def describe_model(self, name: str) -> dict[str, Any]:
        row = self.objects.get("model", name, "model")
        spec = row["spec"]
        out = {"ModelName": name, "ModelArn": arn("model", name), "ExecutionRoleArn": spec.get("ExecutionRoleArn"),
               "CreationTime": iso(row["created_at"]), "MlyardConfig": spec.get("MlyardConfig") or {}}
        for key in ("PrimaryContainer", "Containers"):
            if spec.get(key) is not None:
                out[key] = spec[key]
        return out

    def list_models(self) -> list[dict[str, Any]]:
        return [{"ModelName": r["name"], "ModelArn": arn("model", r["name"]), "CreationTime": iso(r["created_at"])}
                for r in self.objects.list("model")]

    def delete_model(self, name: str) -> None:
        self.objects.get("model", name, "model")
        self.objects.delete("model", name)

    # -- endpoint configurations -----------------------------------------------------------------
    def create_endpoint_config(self, req: dict[str, Any]) -> dict[str, Any]:
        names = [v["VariantName"] for v in req["ProductionVariants"]]
        if len(set(names)) != len(names):
            raise ValidationError(f"variant names must be unique: {names}")
        for v in req["ProductionVariants"]:
            lookup(v["InstanceType"])
            self.objects.get("model", v["ModelName"], "model")
        if all(v["InitialVariantWeight"] == 0 for v in req["ProductionVariants"]):
            raise ValidationError("at least one variant needs a weight above 0")
        if req.get("DataCaptureConfig"):
            what = "data capture (DestinationS3Uri)"
            self.sources.check_destination(what, store.check_uri(
                check_s3_uri(what, req["DataCaptureConfig"]["DestinationS3Uri"])))
        self.objects.insert("endpoint-config", req["EndpointConfigName"], req, what="endpoint configuration")
        return self.describe_endpoint_config(req["EndpointConfigName"])

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        row = self.objects.get("endpoint-config", name, "endpoint configuration")
        return {**row["spec"], "EndpointConfigArn": arn("endpoint-config", name),
                "CreationTime": iso(row["created_at"])}

    def list_endpoint_configs(self) -> list[dict[str, Any]]:
        return [{"EndpointConfigName": r["name"], "EndpointConfigArn": arn("endpoint-config", r["name"]),
                 "CreationTime": iso(r["created_at"])} for r in self.objects.list("endpoint-config")]

    def delete_endpoint_config(self, name: str) -> None:
        self.objects.get("endpoint-config", name, "endpoint configuration")
        self.objects.delete("endpoint-config", name)

    # -- endpoints --------------------------------------------------------------------------------
    def _runner_spec(self, name: str, config_name: str, port: int, host: str = "127.0.0.1",
                     token: str | None = None) -> dict[str, Any]:
        config = self.objects.get("endpoint-config", config_name, "endpoint configuration")["spec"]
        variants = []
        for v in config["ProductionVariants"]:
            model = self.objects.get("model", v["ModelName"], "model")["spec"]
            variants.append({**v, "Containers": model_containers(model)})
        batching = config.get("MlyardConfig") or {}
        return {"EndpointName": name, "EndpointConfigName": config_name, "Port": port, "Host": host, "Token": token,
                "ProductionVariants": variants, "DataCaptureConfig": config.get("DataCaptureConfig"),
                "Sources": self.sources.to_json(), "Buckets": store.buckets(),
                "Executor": self.executor.config() if self.executor else {"name": "local"},
                "Batching": {"max_batch_size": batching.get("MaxBatchSize", 64),
                             "max_latency_ms": batching.get("MaxLatencyMs", 2.0)}}

    def create_endpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        name, port = req["EndpointName"], int(req["MlyardConfig"].get("Port") or 0)
        try:
            existing = self.objects.get("endpoint", name)
        except NotFoundError:
            existing = None
        if existing is not None:
            raise ConflictError(f"endpoint {name!r} already exists; delete it first, or update it")
        host, auth = endpoint_network()
        spec = self._runner_spec(name, req["EndpointConfigName"], port, host, new_token() if auth else None)
        if port:
            _check_port_free(host, port)
        endpoint_dir = self.home / "endpoints" / name
        if endpoint_dir.exists():
            import shutil

            shutil.rmtree(endpoint_dir)
        endpoint_dir.mkdir(parents=True)
        store.write_atomic(endpoint_dir / "spec.json", json.dumps(spec).encode(), mode=0o600)  # holds the token
        self.objects.insert("endpoint", name, req, {"dir": str(endpoint_dir)}, what="endpoint")
        with (endpoint_dir / "runner.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "mlyard.serving.endpoint", str(endpoint_dir)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                    env=public_environment())
        self._children.append(proc)
        started = psutil.Process(proc.pid).create_time()
        self.objects.update("endpoint", name, state={"dir": str(endpoint_dir), "pid": proc.pid, "started": started})
        return self.describe_endpoint(name)

    def _runner_alive(self, state: dict[str, Any]) -> bool:
        self._children = [p for p in self._children if p.poll() is None]
        try:
            proc = psutil.Process(int(state["pid"]))
            return abs(proc.create_time() - float(state["started"])) < 0.5 and proc.status() != psutil.STATUS_ZOMBIE
        except (psutil.Error, KeyError, TypeError, ValueError):
            return False

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        row = self.objects.get("endpoint", name, "endpoint")
        state = row["state"]
        endpoint_dir = Path(state["dir"])
        runner = RunnerChannel(endpoint_dir).read_state() or {}
        status = runner.get("status", "Creating")
        reason = runner.get("failure_reason")
        if status not in _ENDED and "pid" in state and not self._runner_alive(state):
            status, reason = "Failed", reason or "the endpoint's runner process ended; delete and deploy it again"
        config = json.loads((endpoint_dir / "spec.json").read_text())
        token = config.get("Token")
        wanted = config["EndpointConfigName"]
        serving = runner.get("config")
        if status == "InService" and serving and wanted != serving:
            if wanted == runner.get("failed_config"):
                config = self._runner_spec(name, serving, int(config.get("Port") or 0))  # the one still serving
            else:
                status = "Updating"  # the runner has not taken up the new configuration yet
        instances = runner.get("instances") or []
        out: dict[str, Any] = {
            "EndpointName": name, "EndpointArn": arn("endpoint", name),
            "EndpointConfigName": config["EndpointConfigName"], "EndpointStatus": status,
            "CreationTime": iso(row["created_at"]), "LastModifiedTime": iso(row["modified_at"]),
            "ProductionVariants": [{
                "VariantName": v["VariantName"], "CurrentWeight": v["InitialVariantWeight"],
                "DesiredWeight": v["InitialVariantWeight"], "DesiredInstanceCount": v["InitialInstanceCount"],
                "CurrentInstanceCount": sum(1 for i in instances if i["variant"] == v["VariantName"] and i["healthy"]),
            } for v in config["ProductionVariants"]],
            "EndpointUrl": runner.get("url"),
            "Instances": [{k: v for k, v in i.items() if k != "handle"} for i in instances],
            "EndpointDirectory": str(endpoint_dir),
            "Events": [t["message"] for t in runner.get("transitions", [])][-20:],
        }
        if config.get("DataCaptureConfig"):
            out["DataCaptureConfig"] = config["DataCaptureConfig"]
        if token:
            out["EndpointToken"] = token  # callers send it as "Authorization: Bearer <token>"
        if reason:
            out["FailureReason"] = reason
        return out

    def list_endpoints(self) -> list[dict[str, Any]]:
        out = []
        for row in self.objects.list("endpoint"):
            d = self.describe_endpoint(row["name"])
            out.append({k: d.get(k) for k in ("EndpointName", "EndpointArn", "EndpointStatus", "EndpointUrl",
                                              "EndpointConfigName", "CreationTime", "LastModifiedTime")})
        return out

    def update_endpoint(self, name: str, config_name: str) -> dict[str, Any]:
        row = self.objects.get("endpoint", name, "endpoint")
        state = row["state"]
        desc = self.describe_endpoint(name)
        if desc["EndpointStatus"] != "InService":
            raise ConflictError(f"endpoint {name!r} is {desc['EndpointStatus']}; it can be updated when InService")
        old = json.loads((Path(state["dir"]) / "spec.json").read_text())
        spec = self._runner_spec(name, config_name, int(old.get("Port") or 0), old.get("Host") or "127.0.0.1",
                                 old.get("Token"))
        store.write_atomic(Path(state["dir"]) / "spec.json", json.dumps(spec).encode(), mode=0o600)
        self.objects.update("endpoint", name, spec={**row["spec"], "EndpointConfigName": config_name})
        os.kill(int(state["pid"]), signal.SIGHUP)
        return self.describe_endpoint(name)

    def delete_endpoint(self, name: str) -> None:
        row = self.objects.get("endpoint", name, "endpoint")
        state = row["state"]
        runner = RunnerChannel(state["dir"]).read_state() or {}
        if not self._runner_alive(state):
            # The runner is gone: its instances may not be; stop the ones that are still ours.
            for inst in runner.get("instances") or []:
                if inst.get("handle") and self.executor is not None:  # through the executor that started it
                    self.executor.stop_service(inst["handle"], signal.SIGKILL)
                    continue
                try:
                    proc = psutil.Process(int(inst["pid"]))
                    if str(Path(state["dir"])) in " ".join(proc.cmdline()) or "serve" in proc.cmdline():
                        os.killpg(proc.pid, signal.SIGKILL)
                except (psutil.Error, KeyError, TypeError, ValueError, ProcessLookupError):
                    pass
        if self._runner_alive(state):
            os.kill(int(state["pid"]), signal.SIGTERM)
            deadline = time.monotonic() + 30
            while self._runner_alive(state) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._runner_alive(state):
                os.killpg(int(state["pid"]), signal.SIGKILL)
        self.objects.delete("endpoint", name)

    def log_files(self, name: str) -> list[Path]:
        row = self.objects.get("endpoint", name, "endpoint")
        return sorted((Path(row["state"]["dir"]) / "logs").glob("*.log"))


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConflictError(f"port {port} is already in use ({exc.strerror}); choose another port, or leave "
                                "it out to get a free one") from exc


def model_containers(model: dict[str, Any]) -> list[dict[str, Any]]:
    """A model's containers, each with its model data, environment and inference code: its
    primary container alone, or the containers of a serial inference pipeline in order."""
    if model.get("Containers"):
        return [{"ModelDataUrl": c.get("ModelDataUrl"), "Environment": c.get("Environment") or {},
                 "SourceUrl": c.get("SourceUrl")} for c in model["Containers"]]
    primary = model["PrimaryContainer"]
    return [{"ModelDataUrl": primary.get("ModelDataUrl"), "Environment": primary.get("Environment") or {},
             "SourceUrl": primary.get("SourceUrl") or (model.get("MlyardConfig") or {}).get("SourceUrl")}]
