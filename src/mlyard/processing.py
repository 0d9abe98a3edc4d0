"""Processing jobs, with the SageMaker Python SDK v2 signatures (``sagemaker.processing``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlyard import image_uris
from mlyard.client.sources import PackedSource
from mlyard.compat import cloud_only, resolve_versions
from mlyard.errors import ValidationError
from mlyard.jobs import Job, _file_uri, base_name, check_instances, submit
from mlyard.session import Session
from mlyard.validation import PROCESSING_ENVIRONMENT, check_map, check_name, check_strings, is_variable
from mlyard.workflow.pipeline_context import runnable_by_pipeline

__all__ = ["ProcessingInput", "ProcessingOutput", "ProcessingJob", "Processor", "ScriptProcessor",
           "FrameworkProcessor"]

_CODE_DIR = "/opt/ml/processing/input/code"


class ProcessingInput:
    def __init__(self, source: str | None = None, destination: str | None = None, input_name: str | None = None,
                 s3_data_type: str = "S3Prefix", s3_input_mode: str = "File",
                 s3_data_distribution_type: str = "FullyReplicated", s3_compression_type: str = "None",
                 s3_input: Any = None, dataset_definition: Any = None, app_managed: bool = False,
                 **kwargs: Any) -> None:
        cloud_only("ProcessingInput", {"s3_input": s3_input, "dataset_definition": dataset_definition,
                                       "app_managed": app_managed, **kwargs})
        self.source = source
        self.destination = destination
        self.input_name = input_name
        self.s3_data_type = s3_data_type
        self.s3_input_mode = s3_input_mode
        self.s3_data_distribution_type = s3_data_distribution_type
        self.s3_compression_type = s3_compression_type

    def _to_request(self, index: int) -> dict[str, Any]:
        if not self.source:
            raise ValidationError("ProcessingInput needs a source (a URI or a local path)")
        if not self.destination:
            raise ValidationError(f"ProcessingInput {self.source!r} needs a destination (an absolute path such "
                                  "as /opt/ml/processing/input)")
        return {"InputName": self.input_name or f"input-{index + 1}", "AppManaged": False,
                "S3Input": {"S3Uri": _file_uri(self.source), "LocalPath": self.destination,
                            "S3DataType": self.s3_data_type, "S3InputMode": self.s3_input_mode,
                            "S3DataDistributionType": self.s3_data_distribution_type,
                            "S3CompressionType": self.s3_compression_type}}


class ProcessingOutput:
    def __init__(self, source: str | None = None, destination: str | None = None, output_name: str | None = None,
                 s3_upload_mode: str = "EndOfJob", app_managed: bool = False, feature_store_output: Any = None,
                 **kwargs: Any) -> None:
        cloud_only("ProcessingOutput", {"app_managed": app_managed, "feature_store_output": feature_store_output,
                                        **kwargs})
        self.source = source
        self.destination = destination
        self.output_name = output_name
        self.s3_upload_mode = s3_upload_mode
        self.app_managed = app_managed

    def _to_request(self, index: int) -> dict[str, Any]:
        if not self.source:
            raise ValidationError("ProcessingOutput needs a source: the path the script writes to")
        out: dict[str, Any] = {"OutputName": self.output_name or f"output-{index + 1}", "AppManaged": False,
                               "S3Output": {"LocalPath": self.source, "S3UploadMode": self.s3_upload_mode}}
        if self.destination:
            out["S3Output"]["S3Uri"] = _file_uri(self.destination)
        return out


class ProcessingJob(Job):
    """A processing job in the control plane."""

    kind = "Processing"

    def __init__(self, sagemaker_session: Session, job_name: str, inputs: list[ProcessingInput] | None = None,
                 outputs: list[ProcessingOutput] | None = None) -> None:
        super().__init__(sagemaker_session, job_name)
        self.inputs = inputs or []
        self.outputs = outputs or []


class Processor:
    """Runs ``entrypoint`` (a command on this machine; ``python``/``python3`` mean the job's Python)
    on ``instance_count`` local instances with SageMaker Processing's contract."""

    _framework: str | None = None

    def __init__(self, role: str | None = None, image_uri: str | None = None, instance_count: int | None = None,
                 instance_type: str | None = None, entrypoint: list[str] | None = None,
                 volume_size_in_gb: int = 30, volume_kms_key: str | None = None, output_kms_key: str | None = None,
                 max_runtime_in_seconds: int | None = None, base_job_name: str | None = None,
                 sagemaker_session: Session | None = None, env: dict[str, str] | None = None,
                 tags: list[dict[str, str]] | None = None, network_config: Any = None, sandbox: bool | None = None,
                 metric_definitions: list[dict[str, str]] | None = None) -> None:
        owner = type(self).__name__
        cloud_only(owner, {"volume_size_in_gb": volume_size_in_gb if volume_size_in_gb != 30 else None,
                           "volume_kms_key": volume_kms_key, "output_kms_key": output_kms_key,
                           "network_config": network_config})
        spec = image_uris.parse(image_uri)
        if spec is not None and spec.framework is not None:
            if self._framework not in (None, spec.framework):
                raise ValidationError(f"{owner}: image_uri {image_uri!r} is a {spec.framework} image; this processor "
                                      f"runs {self._framework}: use the {spec.framework} processor")
            self._framework = spec.framework
            if getattr(self, "framework_version", None) is None:
                self.framework_version = spec.version
        resolve_versions(owner, self._framework, getattr(self, "framework_version", None),
                         getattr(self, "py_version", None) or (spec.py_version if spec else None))
        self.role = role
        self.image_uri = image_uri
        self.instance_count = check_instances(instance_type, instance_count)
        self.instance_type = instance_type
        self.entrypoint = entrypoint
        self.volume_size_in_gb = volume_size_in_gb
        self.max_runtime_in_seconds = max_runtime_in_seconds
        self.base_job_name = base_job_name
        self.sagemaker_session = sagemaker_session or Session()
        self.env = dict(env or {})
        self.tags = tags or []
        self.sandbox = sandbox
        self.metric_definitions = metric_definitions or []
        self.jobs: list[ProcessingJob] = []
        self.latest_job: ProcessingJob | None = None
        self._current_job_name: str | None = None

    def _image_name(self) -> str:
        """The image a job records when no ``image_uri`` was given (``image_uris``' scheme)."""
        if self._framework not in image_uris.FRAMEWORKS:
            return "mlyard/processing"
        return image_uris.image_name(self._framework, getattr(self, "framework_version", None), "processing")

    def _base_name(self) -> str:
        default = f"{self._framework}-processing" if self._framework else "processing"
        return base_name(self.base_job_name, self.image_uri, "processing" if self.image_uri else default)

    @runnable_by_pipeline
    def run(self, inputs: list[ProcessingInput] | None = None, outputs: list[ProcessingOutput] | None = None,
            arguments: list[str] | None = None, wait: bool = True, logs: bool = True, job_name: str | None = None,
            experiment_config: dict[str, Any] | None = None, kms_key: str | None = None) -> None:
        cloud_only(f"{type(self).__name__}.run", {"kms_key": kms_key})
        if not self.entrypoint:
            raise ValidationError("mlyard runs no containers: give the Processor an entrypoint (the command to run), "
                                  "or use ScriptProcessor / SKLearnProcessor with code=")
        self._start(list(self.entrypoint), inputs, outputs, arguments, wait, logs, job_name)

    def _start(self, entrypoint: list[str], inputs: list[ProcessingInput] | None,
               outputs: list[ProcessingOutput] | None, arguments: list[str] | None, wait: bool, logs: bool,
               job_name: str | None, code: _Code | None = None) -> None:
        check_map("environment variable", {str(k): str(v) for k, v in self.env.items()}, PROCESSING_ENVIRONMENT)
        check_strings("entrypoint", entrypoint, 100, 256)
        check_strings("arguments", arguments or [], 256, 256)
        if job_name is not None:
            check_name("job_name", job_name)
        all_inputs = list(inputs or [])
        if code is not None:  # a local file is a file:// reference, uploaded by content at submit
            uri = f"file://{code.source.path}" if code.source is not None else code.uri
            all_inputs.append(ProcessingInput(source=uri, destination=_CODE_DIR, input_name="code"))
        request = self._request(job_name, entrypoint, all_inputs, outputs or [], arguments or [],
                                {"CodeArchive": True} if code is not None and code.archive else {})
        name = submit(self.sagemaker_session, "processing", request)["ProcessingJobName"]  # code kept till here
        self._current_job_name = name
        self.latest_job = ProcessingJob(self.sagemaker_session, name, inputs, outputs)
        self.jobs.append(self.latest_job)
        if wait:
            self.latest_job.wait(logs=logs)

    def _request(self, name: str | None, entrypoint: list[str], inputs: list[ProcessingInput],
                 outputs: list[ProcessingOutput], arguments: list[str], mlyard_cfg: dict[str, Any]) -> dict[str, Any]:
        """The CreateProcessingJob request: pure (see ``jobs.submit``); the server names the job
        from ``MlyardConfig.BaseName`` when ``name`` is None."""
        sandbox = self.sandbox if self.sandbox is not None else self.sagemaker_session.sandbox
        env = {str(k): str(v) for k, v in self.env.items()}
        return {
            "ProcessingJobName": name,
            "ProcessingInputs": [inp._to_request(i) for i, inp in enumerate(inputs)],
            "ProcessingOutputConfig": {"Outputs": [out._to_request(i) for i, out in enumerate(outputs)]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": self.instance_count,
                                                      "InstanceType": self.instance_type,
                                                      "VolumeSizeInGB": self.volume_size_in_gb}},
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_runtime_in_seconds}
            if self.max_runtime_in_seconds else {},
            "AppSpecification": {"ImageUri": self.image_uri or self._image_name(),
                                 "ContainerEntrypoint": entrypoint,
                                 "ContainerArguments": [a if is_variable(a) else str(a) for a in arguments]},
            "Environment": env,
            "RoleArn": self.role,
            "Tags": self.tags,
            "MlyardConfig": {"Sandbox": bool(sandbox), "Framework": self._framework,
                             "FrameworkVersion": getattr(self, "framework_version", None),
                             "MetricDefinitions": self.metric_definitions, "BaseName": self._base_name(),
                             "DefaultOutput": self.sagemaker_session._default_output(), **mlyard_cfg},
        }


@dataclass(frozen=True)
class _Code:
    """The code input: an object already in the store (``uri``), or a ``source`` to store by its
    content; ``archive``: a sourcedir.tar.gz to unpack."""

    uri: str | None = None
    source: PackedSource | None = None
    archive: bool = False


class ScriptProcessor(Processor):
    """Runs ``command`` + the ``code`` file (delivered as the input ``code`` at
    /opt/ml/processing/input/code/)."""

    def __init__(self, role: str | None = None, image_uri: str | None = None, command: list[str] | None = None,
                 instance_count: int | None = None, instance_type: str | None = None, **kwargs: Any) -> None:
        super().__init__(role=role, image_uri=image_uri, instance_count=instance_count, instance_type=instance_type,
                         **kwargs)
        self.command = command or ["python3"]

    @runnable_by_pipeline
    def run(self, code: str, inputs: list[ProcessingInput] | None = None,  # type: ignore[override]
            outputs: list[ProcessingOutput] | None = None, arguments: list[str] | None = None, wait: bool = True,
            logs: bool = True, job_name: str | None = None, experiment_config: dict[str, Any] | None = None,
            kms_key: str | None = None) -> None:
        cloud_only(f"{type(self).__name__}.run", {"kms_key": kms_key})
        path = Path(code)
        if "://" in code:
            source = _Code(uri=code)
        elif path.is_file():
            try:
                path.open("rb").close()  # sent from disk when the job is created: readable now
            except OSError as exc:
                raise ValidationError(f"code {code!r} cannot be read: {exc.strerror}; fix its permissions") from None
            source = _Code(source=PackedSource(path.absolute(), path.name))
        else:
            raise ValidationError(f"code {code!r} does not exist (looked at {path.resolve()})")
        entry = [*self.command, f"{_CODE_DIR}/{os.path.basename(code)}"]
        self._start(entry, inputs, outputs, arguments, wait, logs, job_name, code=source)


class FrameworkProcessor(ScriptProcessor):
    """Runs ``code`` from ``source_dir`` (with its ``requirements.txt``, ``dependencies`` and
    ``git_config``) with the framework's Python."""

    def __init__(self, estimator_cls: Any, framework_version: str, role: str | None = None,
                 instance_count: int | None = None, instance_type: str | None = None, py_version: str = "py3",
                 image_uri: str | None = None, command: list[str] | None = None, code_location: str | None = None,
                 **kwargs: Any) -> None:
        self.estimator_cls = estimator_cls
        self.framework_version = framework_version
        self.py_version = py_version
        self._framework = getattr(estimator_cls, "_framework", None)
        super().__init__(role=role, image_uri=image_uri, command=command or ["python"],
                         instance_count=instance_count, instance_type=instance_type, **kwargs)

    @runnable_by_pipeline
    def run(self, code: str, source_dir: str | None = None,  # type: ignore[override]
            dependencies: list[str] | None = None, git_config: dict[str, Any] | None = None,
            inputs: list[ProcessingInput] | None = None, outputs: list[ProcessingOutput] | None = None,
            arguments: list[str] | None = None, wait: bool = True, logs: bool = True, job_name: str | None = None,
            experiment_config: dict[str, Any] | None = None, kms_key: str | None = None,
            codeartifact_repo_arn: str | None = None) -> None:
        from mlyard.client.sources import pack_source

        cloud_only(f"{type(self).__name__}.run", {"kms_key": kms_key, "codeartifact_repo_arn": codeartifact_repo_arn})
        packed = pack_source(code, source_dir, dependencies, git_config)  # once, whatever the name
        entry = [*self.command, f"{_CODE_DIR}/{packed.program}"]
        self._start(entry, inputs, outputs, arguments, wait, logs, job_name,
                    code=_Code(source=packed, archive=True))
