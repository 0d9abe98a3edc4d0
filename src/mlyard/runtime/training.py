"""The training job runner: SageMaker's training contract on local processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from mlyard import store
from mlyard.compute import sandbox
from mlyard.errors import ValidationError
from mlyard.runtime import contract
from mlyard.runtime.channels import assign, fetch, resolve_objects, source_policy
from mlyard.runtime.hosts import HostProcess
from mlyard.runtime.runner import JobFailure, JobRunner, job_environment
from mlyard.runtime.runner_channel import RunnerChannel
from mlyard.store.paths import copy_tree

__all__ = ["TrainingRunner"]

def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _legacy_keras(version: str | None) -> bool:
    try:
        major, minor = (int(x) for x in (version or "").split(".")[:2])
    except ValueError:
        return False
    return (major, minor) < (2, 16)


class TrainingRunner(JobRunner):
    kind = "training"

    def __init__(self, channel: RunnerChannel, job_dir: Path, spec: dict[str, Any]) -> None:
        super().__init__(channel, job_dir, spec)
        self.use_bwrap = sandbox.bwrap_available()
        seen = "/opt/ml" if self.use_bwrap else None
        channels = [c["ChannelName"] for c in self.request.get("InputDataConfig") or []]
        self.layouts = {
            h: contract.HostLayout(job_dir / "hosts" / h, seen or str(job_dir / "hosts" / h), channels)
            for h in self.hosts
        }
        self.decoded = contract.decode_hyperparameters(self.request.get("HyperParameters") or {})
        self.user_hps, self.reserved, self.framework_extra = contract.split_hyperparameters(self.decoded)
        self.entry_point = str(self.reserved.get("sagemaker_program") or "")
        ckpt = self.request.get("CheckpointConfig") or {}
        self.checkpoint_uri: str | None = ckpt.get("S3Uri")
        self.checkpoint_local = ckpt.get("LocalPath") or "/opt/ml/checkpoints"
        self.command_lines: dict[str, str] = {}
        self.sources = source_policy(spec)

    def metric_definitions(self) -> list[dict[str, str]]:
        return list((self.request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or [])

    def max_runtime(self) -> float | None:
        return (self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")

    def _checkpoint_dir(self, host: str) -> Path:
        layout = self.layouts[host]
        if self.checkpoint_local.startswith("/opt/ml/"):
            return layout.path(self.checkpoint_local[len("/opt/ml/"):])
        return Path(self.checkpoint_local)

    # -- preparing ------------------------------------------------------------------------------
    def prepare(self) -> list[tuple[str, list[str], dict[str, str], str | None, bool]]:
        self.state.transition("InProgress", "Downloading", "Downloading input data and code")
        for layout in self.layouts.values():
            layout.create()
        try:
            self._install_code()
            python = self._python()
            self._download_channels()
            if self.checkpoint_uri:
                for h in self.hosts:
                    self._restore_checkpoints(h)
        except ValidationError as exc:  # a source the job may not read, or a link leading out of one
            raise JobFailure(f"ClientError: {exc}") from exc
        return [self._host_command(i, h, python) for i, h in enumerate(self.hosts)]

    def _install_code(self) -> None:
        submit = self.reserved.get("sagemaker_submit_directory")
        if not submit:
            if self.entry_point:
                raise JobFailure("ClientError: the job names an entry point but no source "
                                 "(sagemaker_submit_directory); pass source_dir or entry_point from the SDK.")
            raise JobFailure("ClientError: the job has no entry point. mlyard runs no containers: give the "
                             "estimator an entry_point (and source_dir) to run.")
        code_root = self.job_dir / "code"
        src = self.sources.check("the job's source (sagemaker_submit_directory)", submit)
        if src is not None and src.is_dir():
            copy_tree(src, code_root, self.sources)
        else:
            tarball = self.job_dir / "work" / "sourcedir.tar.gz"
            try:
                archive = (fetch(f"file://{src}", src.name, tarball, self.sources) if src
                           else store.download(submit, tarball))
            except OSError as exc:
                raise JobFailure(f"ClientError: the job's source {submit!r} cannot be read: "
                                 f"{exc.strerror or exc}") from exc
            store.extract_tar(archive, code_root)
        if not (code_root / self.entry_point).exists():
            found = sorted(p.name for p in code_root.iterdir())[:20]
            raise JobFailure(f"ImportModuleError: entry point {self.entry_point!r} is not in the job's source "
                             f"(it holds {found}). Check entry_point and source_dir.")
        for layout in self.layouts.values():
            shutil.copytree(code_root, layout.path("code"), dirs_exist_ok=True)

    def _python(self) -> str:
        python = self.requirements_python(self.job_dir / "code" / "requirements.txt")
        if self._is_package():
            python = self._install_package(python)
        return python

    def _is_package(self) -> bool:
        code = self.job_dir / "code"
        return (code / "setup.py").exists() or (code / "pyproject.toml").exists()

    def _install_package(self, python: str) -> str:
        import subprocess

        env_dir = self.job_dir / "work" / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True,
                       capture_output=True)
        # The new venv sees the site-packages of ``python`` (mlyard's, plus a requirements env's).
        probe = "import sys;print('\\n'.join(p for p in sys.path if p.endswith('site-packages')))"
        parent = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout
        site_dir = next((env_dir / "lib").glob("python*/site-packages"))
        (site_dir / "_mlyard_parent.pth").write_text(parent)
        proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install",
                               "--disable-pip-version-check", "--no-input", str(self.job_dir / "code")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise JobFailure(f"InstallModuleError: pip install of the source package failed:\n"
                             f"{(proc.stdout + proc.stderr)[-700:]}")
        return str(env_dir / "bin" / "python")

    def _download_channels(self) -> None:
        config: dict[str, Any] = {}
        for channel in self.request.get("InputDataConfig") or []:
            name = channel["ChannelName"]
            source = channel["DataSource"]["S3DataSource"]
            distribution = source.get("S3DataDistributionType") or "FullyReplicated"
            objects = resolve_objects(source["S3Uri"], source.get("S3DataType") or "S3Prefix", self.sources,
                                      f"channel {name!r}")
            if not objects:
                raise JobFailure(f"ClientError: channel {name!r} ({source['S3Uri']}) holds no objects.")
            for host, assigned in assign(objects, self.hosts, distribution).items():
                target = self.layouts[host].path(f"input/data/{name}")
                for uri, key in assigned:
                    dest = (target / key).resolve()
                    if target.resolve() not in dest.parents:
                        raise JobFailure(f"ClientError: object key {key!r} escapes channel {name!r}")
                    fetch(uri, key, dest, self.sources)
            entry = {"TrainingInputMode": channel.get("InputMode") or "File", "S3DistributionType": distribution,
                     "RecordWrapperType": channel.get("RecordWrapperType") or "None"}
            if channel.get("ContentType"):
                entry["ContentType"] = channel["ContentType"]
            config[name] = entry
        self.input_data_config = config

    def _restore_checkpoints(self, host: str) -> None:
        assert self.checkpoint_uri
        target = self._checkpoint_dir(host)
        target.mkdir(parents=True, exist_ok=True)
        for uri, key in resolve_objects(self.checkpoint_uri, "S3Prefix", self.sources, "the checkpoints"):
            fetch(uri, key, target / key, self.sources)

    def _host_command(self, index: int, host: str, python: str
                      ) -> tuple[str, list[str], dict[str, str], str | None, bool]:
        layout = self.layouts[host]
        rtype = self.request["ResourceConfig"]
        per_host = self.spec["per_host"]
        resource_config = {
            "current_host": host, "current_instance_type": rtype["InstanceType"],
            "current_group_name": "homogeneousCluster", "hosts": self.hosts,
            "instance_groups": [{"instance_group_name": "homogeneousCluster",
                                 "instance_type": rtype["InstanceType"], "hosts": self.hosts}],
            "network_interface_name": "eth0",
        }
        config_dir = layout.path("input/config")
        contract.write_json(config_dir / "hyperparameters.json", self.request.get("HyperParameters") or {})
        contract.write_json(config_dir / "resourceconfig.json", resource_config)
        contract.write_json(config_dir / "inputdataconfig.json", self.input_data_config)
        user = {k: self._seen_value(layout, v) for k, v in self.user_hps.items()}
        args = contract.cli_args(user)
        env = contract.sm_env(
            layout=layout, job_name=self.name, hosts=self.hosts, current_host=host,
            instance_type=rtype["InstanceType"], user_hps=user, framework_extra=self.framework_extra,
            module_dir=str(self.reserved.get("sagemaker_submit_directory") or layout.seen_path("code")),
            entry_point=self.entry_point, log_level=int(self.reserved.get("sagemaker_container_log_level") or 20),
            num_cpus=max(1, int(per_host["cpus"])), num_gpus=int(per_host["gpus"]),
            resource_config=resource_config, input_data_config=self.input_data_config, user_args=args)
        env.update(self.request.get("Environment") or {})
        env.update(self._rendezvous(index))
        code_seen = layout.seen_path("code")
        env["PYTHONPATH"] = os.pathsep.join([code_seen, *filter(None, [os.environ.get("PYTHONPATH")])])
        mlyard_cfg = self.request.get("MlyardConfig") or {}
        if mlyard_cfg.get("Framework") == "tensorflow" and _legacy_keras(mlyard_cfg.get("FrameworkVersion")):
            env["TF_USE_LEGACY_KERAS"] = "1"  # Keras 2 semantics (model.save(dir) -> SavedModel)
        gpu_ids = self.placement[host]["gpu_ids"]
        if gpu_ids is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpu_ids)
        entry = self._entry_command(python, layout, args)
        self.command_lines[host] = " ".join(["python" if entry[0] == python else entry[0], *entry[1:]])
        cmd, cwd, wrapped = self.contain(host, entry, layout.real,
                                         code_seen if self.use_bwrap else str(layout.path("code")), python)
        return host, cmd, job_environment(env, self.sandboxed), cwd, wrapped

    def _seen_value(self, layout: contract.HostLayout, value: Any) -> Any:
        # Values naming SageMaker's paths (model_dir=/opt/ml/model) follow the job's real root.
        if isinstance(value, str) and (value == "/opt/ml" or value.startswith("/opt/ml/")):
            return layout.seen + value[len("/opt/ml"):]
        return value

    def _entry_command(self, python: str, layout: contract.HostLayout, args: list[str]) -> list[str]:
        entry = self.entry_point
        code_seen = layout.seen_path("code")
        if entry.endswith(".sh"):
            os.chmod(layout.path(f"code/{entry}"), 0o755)
            return ["/bin/sh", f"{code_seen}/{entry}", *args]
        if self._is_package():
            return [python, "-m", entry[:-3] if entry.endswith(".py") else entry, *args]
        if entry.endswith(".py"):
            return [python, f"{code_seen}/{entry}", *args]
        os.chmod(layout.path(f"code/{entry}"), 0o755)
        return [f"{code_seen}/{entry}", *args]

    def _rendezvous(self, index: int) -> dict[str, str]:
        n = len(self.hosts)
        if not hasattr(self, "_ports"):
            self._ports = _free_ports(n + 1)
        # Addresses are where the executor placed each host; ports are picked free here (the
        # runner's machine, where algo-1 runs).
        env = {"MASTER_ADDR": self.address(self.hosts[0]), "MASTER_PORT": str(self._ports[0]), "WORLD_SIZE": str(n),
               "RANK": str(index), "NODE_RANK": str(index), "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
               "GROUP_RANK": str(index)}
        if n > 1:
            env["TF_CONFIG"] = json.dumps({
                "cluster": {"worker": [f"{self.address(h)}:{p}" for h, p in zip(self.hosts, self._ports[1:],
                                                                              strict=True)]},
                "task": {"type": "worker", "index": index}})
        return env

    # -- while running ---------------------------------------------------------------------------
    def on_tick(self) -> None:
        if self.checkpoint_uri:
            self._sync_checkpoints()

    def _sync_checkpoints(self) -> None:
        assert self.checkpoint_uri
        local = self._checkpoint_dir(self.hosts[0])
        beneath = None
        if self.checkpoint_local.startswith("/opt/ml/"):
            confined = self.layouts[self.hosts[0]].confined(local)
            if confined is None or confined.is_symlink():
                return
            beneath = self.layouts[self.hosts[0]].real  # the job, still running, may swap files for links
        if local.is_dir():
            store.sync_dir_to(local, self.checkpoint_uri, beneath)

    # -- results ---------------------------------------------------------------------------------
    def failure_reason(self, host: HostProcess, code: int) -> str:
        return self.script_failure(host, code, self.layouts[host.name], self.command_lines[host.name])

    def publish(self, outcome: str) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.checkpoint_uri:
            self._sync_checkpoints()
        work = self.job_dir / "work"
        if outcome in ("Completed", "Stopped", "MaxRuntimeExceeded"):
            model_dirs = [d for h in self.hosts if (d := self.layouts[h].confined_dir("model"))]
            if outcome == "Completed" or any(any(d.iterdir()) for d in model_dirs):
                archive = store.make_tar(work / "model.tar.gz", [(d, "") for d in model_dirs])
                fields["model_artifacts"] = store.upload_file(archive, self.spec["model_artifacts_uri"])
        data_dirs = [d for h in self.hosts if (d := self.layouts[h].confined_dir("output/data"))]
        if any(any(d.iterdir()) for d in data_dirs):
            archive = store.make_tar(work / "output.tar.gz", [(d, "") for d in data_dirs])
            fields["output_artifacts"] = store.upload_file(archive, self.spec["output_artifacts_uri"])
        if outcome == "Completed":
            for layout in self.layouts.values():
                layout.write_text("output/success", "")
        return fields
