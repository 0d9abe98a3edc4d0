"""The processing job runner: SageMaker Processing's contract on local instances."""

from __future__ import annotations

import os
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

__all__ = ["ProcessingRunner"]

_MESSAGE_LIMIT = 1024


class ProcessingRunner(JobRunner):
    kind = "processing"

    def __init__(self, channel: RunnerChannel, job_dir: Path, spec: dict[str, Any]) -> None:
        super().__init__(channel, job_dir, spec)
        self.use_bwrap = sandbox.bwrap_available()
        self.layouts = {h: contract.HostLayout(job_dir / "hosts" / h, "/opt/ml" if self.use_bwrap
                                               else str(job_dir / "hosts" / h)) for h in self.hosts}
        self.inputs: list[dict[str, Any]] = self.request.get("ProcessingInputs") or []
        self.outputs: list[dict[str, Any]] = (self.request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        self.cfg: dict[str, Any] = self.request.get("MlyardConfig") or {}
        self.events: list[str] = []
        self._uploaded: dict[str, tuple[float, int]] = {}  # continuous uploads: dest URI -> (mtime, size)
        self.sources = source_policy(spec)

    def metric_definitions(self) -> list[dict[str, str]]:
        return list(self.cfg.get("MetricDefinitions") or [])

    def max_runtime(self) -> float | None:
        return (self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")

    # -- where a path inside an instance lives on disk ------------------------------------------
    def _real(self, host: str, local_path: str) -> Path:
        root = self.layouts[host].real
        if local_path.startswith("/opt/ml/"):
            return root / local_path[len("/opt/ml/"):]
        return root / "mounts" / local_path.strip("/").replace("/", "__")

    def _output_root(self, host: str, local_path: str) -> Path | None:
        """An output's folder on disk, if it is a real folder that no symlink leads out of."""
        path = self.layouts[host].confined(self._real(host, local_path))
        return path if path is not None and path.is_dir() and not path.is_symlink() else None

    def _binds(self, host: str) -> list[tuple[Path, str]]:
        paths = [i["S3Input"]["LocalPath"] for i in self.inputs] + [o["S3Output"]["LocalPath"] for o in self.outputs]
        # Parents before children, so a nested path is mounted over its parent's mount.
        return [(self._real(host, p), p) for p in sorted(set(paths), key=len) if not p.startswith("/opt/ml/")]

    def _seen(self, host: str, value: str) -> str:
        # Without bubblewrap, /opt/ml/... in the command line follows the instance's real root.
        if not self.use_bwrap and (value == "/opt/ml" or value.startswith("/opt/ml/")):
            return str(self.layouts[host].real) + value[len("/opt/ml"):]
        return value

    # -- preparing ------------------------------------------------------------------------------
    def prepare(self) -> list[tuple[str, list[str], dict[str, str], str | None, bool]]:
        self.state.transition("InProgress", "Downloading", "Downloading the job's inputs")
        for host in self.hosts:
            for rel in ("config", "output"):
                self.layouts[host].path(rel).mkdir(parents=True, exist_ok=True)
            for out in self.outputs:
                self._real(host, out["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
        try:
            for inp in self.inputs:
                self._download(inp)
        except ValidationError as exc:  # an input the job may not read, or a link leading out of one
            raise JobFailure(f"ClientError: {exc}") from exc
        python = sys.executable
        code = next((i for i in self.inputs if i["InputName"] == "code"), None)
        if code is not None and self.cfg.get("CodeArchive"):
            python = self.requirements_python(self._real(self.hosts[0], code["S3Input"]["LocalPath"])
                                              / "requirements.txt")
        config = dict(self.request, ProcessingJobArn=f"arn:mlyard:local:processing-job/{self.name}")
        app = self.request["AppSpecification"]
        commands = []
        for host in self.hosts:
            config_dir = self.layouts[host].path("config")
            contract.write_json(config_dir / "processingjobconfig.json", config)
            contract.write_json(config_dir / "resourceconfig.json", {"current_host": host, "hosts": self.hosts})
            entry = [python if i == 0 and arg in ("python", "python3") else self._seen(host, arg)
                     for i, arg in enumerate(app["ContainerEntrypoint"])]
            cmd = [*entry, *(self._seen(host, a) for a in app.get("ContainerArguments") or [])]
            env = job_environment(self.request.get("Environment") or {}, self.sandboxed)
            chdir = "/opt/ml" if self.use_bwrap else str(self.layouts[host].real)
            wrapped_cmd, cwd, wrapped = self.contain(host, cmd, self.layouts[host].real, chdir, python,
                                                     self._binds(host))
            commands.append((host, wrapped_cmd, env, cwd, wrapped))
        return commands

    def _download(self, inp: dict[str, Any]) -> None:
        s3 = inp["S3Input"]
        objects = resolve_objects(s3["S3Uri"], s3.get("S3DataType") or "S3Prefix", self.sources,
                                  f"input {inp['InputName']!r}")
        if not objects:
            raise JobFailure(f"ClientError: input {inp['InputName']!r} ({s3['S3Uri']}) holds no objects.")
        archive = inp["InputName"] == "code" and self.cfg.get("CodeArchive")
        distribution = s3.get("S3DataDistributionType") or "FullyReplicated"
        for host, assigned in assign(objects, self.hosts, distribution).items():
            target = self._real(host, s3["LocalPath"])
            target.mkdir(parents=True, exist_ok=True)
            for uri, key in assigned:
                if archive:
                    tmp = fetch(uri, key, self.job_dir / "work" / f"{host}-code.tar.gz", self.sources)
                    store.extract_tar(tmp, target)
                    continue
                dest = (target / key).resolve()
                if target.resolve() not in dest.parents:
                    raise JobFailure(f"ClientError: object key {key!r} escapes input {inp['InputName']!r}")
                fetch(uri, key, dest, self.sources)

    # -- while running: Continuous outputs --------------------------------------------------------
    def on_tick(self) -> None:
        for out in self.outputs:
            if out["S3Output"].get("S3UploadMode") == "Continuous":
                self._upload_output(out, only_changed=True)

    def _upload_output(self, out: dict[str, Any], only_changed: bool = False) -> int:
        """Upload what each instance wrote for ``out``; a key written by two instances is recorded
        as an event (the later instance's copy is kept). Returns the number of files found."""
        s3 = out["S3Output"]
        owners: dict[str, str] = {}
        found = 0
        for host in self.hosts:
            root = self._output_root(host, s3["LocalPath"])
            if root is None:
                continue
            for path in store.regular_files(root):
                found += 1
                key = path.relative_to(root).as_posix()
                if key in owners and owners[key] != host:
                    note = (f"output {out['OutputName']!r}: {key!r} was written by both {owners[key]} and {host}; "
                            f"{host}'s copy was uploaded")
                    if note not in self.events:
                        self.events.append(note)
                        # A warning beside the others (the sandbox's, say), not in their place.
                        self.state.update(events=self.events, warnings=[*self.state.data["warnings"], note])
                owners[key] = host
                dest = store.join(s3["S3Uri"], key)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue  # the job removed it meanwhile
                stamp = (st.st_mtime, st.st_size)
                if only_changed and self._uploaded.get(dest) == stamp:
                    continue
                # The job may still be running and swap the file for a link: read it only beneath its root.
                if store.upload_file(path, dest, beneath=self.layouts[host].real) is not None:
                    self._uploaded[dest] = stamp
        return found

    # -- results ---------------------------------------------------------------------------------
    def failure_reason(self, host: HostProcess, code: int) -> str:
        return self.script_failure(host, code, self.layouts[host.name],
                                   " ".join(self.request["AppSpecification"]["ContainerEntrypoint"]))

    def publish(self, outcome: str) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        messages = []
        for host in self.hosts:
            messages.append((self.layouts[host].read_text("output/message", _MESSAGE_LIMIT) or "").strip())
        if any(messages):
            fields["exit_message"] = "\n".join(m for m in messages if m)[:_MESSAGE_LIMIT]
        if outcome != "Completed":
            return fields  # EndOfJob outputs of a job that did not complete are never uploaded
        empty = [o for o in self.outputs if not any(
            (root := self._output_root(h, o["S3Output"]["LocalPath"])) and any(p.is_file() for p in root.rglob("*"))
            for h in self.hosts)]
        if empty:
            names = ", ".join(f"{o['OutputName']!r} ({o['S3Output']['LocalPath']})" for o in empty)
            raise JobFailure(f"ClientError: the script wrote nothing to output {names}; write the files there, "
                             "or remove the output from the job")
        for out in self.outputs:
            self._upload_output(out, only_changed=out["S3Output"].get("S3UploadMode") == "Continuous")
        if self.events:
            fields["events"] = self.events
        return fields
