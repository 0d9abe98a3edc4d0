"""Jobs in the control plane (training, processing, transform; tuning through ``tuner``): the
handle every SDK module shares (describe, stop, logs, wait), and the helpers of their requests.
It imports no other SDK module but ``session``, so any of them may import it."""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlyard.errors import MlyardWarning, UnexpectedStatusException, ValidationError
from mlyard.naming import base_name_from_image
from mlyard.session import Session
from mlyard.statuses import TERMINAL
from mlyard.validation import check_count

if TYPE_CHECKING:
    from mlyard.client import Client

__all__ = ["Job", "TrainingJob", "base_name", "check_instances", "submit"]

_TIME_FIELDS = ("CreationTime", "LastModifiedTime", "TrainingStartTime", "TrainingEndTime", "StartTime",
                "EndTime", "Timestamp", "ProcessingStartTime", "ProcessingEndTime", "TransformStartTime",
                "TransformEndTime", "HyperParameterTuningEndTime", "ConvergenceDetectedTime")


def _parse_times(obj: Any) -> Any:
    """ISO strings from the API become datetimes, as boto returns them."""
    if isinstance(obj, dict):
        return {k: (datetime.fromisoformat(v) if k in _TIME_FIELDS and isinstance(v, str) else _parse_times(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_parse_times(v) for v in obj]
    return obj


def _file_uri(uri: Any) -> Any:
    """``file://relative`` and plain paths become absolute ``file://`` URIs; others (a pipeline
    variable too) pass through."""
    if not isinstance(uri, str):
        return uri
    if uri.startswith("file://"):
        path = uri[len("file://"):]
        return "file://" + os.path.abspath(path)
    if "://" not in uri and uri[:3].lower() != "s3:":  # 's3:/x' is a mistyped URI, not a file: the server says so
        return "file://" + os.path.abspath(uri)
    return uri


def base_name(base_job_name: str | None, image_uri: str | None, default: str) -> str:
    """A job's base name, as SageMaker picks it: ``base_job_name``, else the image's repository
    name, else ``default``."""
    if base_job_name:
        return base_job_name
    return base_name_from_image(image_uri, default) if image_uri else default


def check_instances(instance_type: str | None, instance_count: int | None) -> int:
    """The instance count (default 1), after checking both arguments are usable."""
    if instance_type is None:
        raise ValidationError("instance_type is required: 'local', 'local_gpu' or an ml.* type")
    if instance_count is None:
        return 1
    return check_count("instance_count", instance_count)


def _deploy_config(endpoint_name: str, variants: list[dict[str, Any]], data_capture: dict[str, Any] | None,
                   batching: dict[str, Any] | None) -> dict[str, Any]:
    """An endpoint configuration for ``endpoint_name``, named by the server after it."""
    config: dict[str, Any] = {"ProductionVariants": variants,
                              "MlyardConfig": {**(batching or {}), "BaseName": endpoint_name[:30]}}
    if data_capture:
        config["DataCaptureConfig"] = data_capture
    return config


# What each kind of create request is: its name's key and the client's method.
_KINDS: dict[str, tuple[str, str]] = {
    "training": ("TrainingJobName", "create_training_job"),
    "processing": ("ProcessingJobName", "create_processing_job"),
    "transform": ("TransformJobName", "create_transform_job"),
    "tuning": ("HyperParameterTuningJobName", "create_tuning_job"),
    "model": ("ModelName", "create_model"),
    "endpoint-config": ("EndpointConfigName", "create_endpoint_config"),
    "endpoint": ("EndpointName", "create_endpoint"),
    "model-package": ("ModelPackageArn", "create_model_package"),
}


def submit(session: Session, kind: str, request: dict[str, Any]) -> dict[str, Any]:
    """Create what ``request`` describes (``kind``: a key of ``_KINDS``) and return the create
    response, whose name key names it (the server picks a name when the request has none, from
    ``MlyardConfig.BaseName``). The one way every SDK path creates something: request builders
    upload nothing and pick no name, so a request can be serialized before anything exists; here
    the local things it names (``file://`` channel, processing and transform inputs, model data,
    a job's packed code) are uploaded by their content and the request rewritten to the stored
    URIs. Outputs stay as given: a ``file://`` destination is on the server's machine. Warnings the
    control plane returns are raised as ``MlyardWarning``."""
    from mlyard.workflow.entities import primitive_or_expr
    from mlyard.workflow.pipeline_context import captured, capturing

    key, method = _KINDS[kind]
    client = session.client
    # the caller's request stays as built; pipeline variables become their expressions
    req = json.loads(json.dumps(primitive_or_expr(request)))
    _upload_local_references(client, kind, req)
    if capturing():  # a pipeline step's arguments: made, not sent
        captured(kind, req)
    created: dict[str, Any] = getattr(client, method)(req)
    for message in created.get("Warnings") or []:
        warnings.warn(f"{created.get(key)}: {message}", MlyardWarning, stacklevel=3)
    return created


def _upload_local_references(client: Client, kind: str, req: dict[str, Any]) -> None:
    from mlyard.client.uploads import upload_local

    def up(uri: Any, what: str, code: bool = False) -> Any:
        if isinstance(uri, str) and uri.startswith("file://"):
            return upload_local(client, uri, what, code)
        return uri

    def training(definition: dict[str, Any], hps_key: str) -> None:
        for ch in definition.get("InputDataConfig") or []:
            src = ch["DataSource"].get("S3DataSource")
            if src is not None:  # a FileSystemDataSource is a folder on the server's machine, read in place
                src["S3Uri"] = up(src["S3Uri"], f"channel {ch['ChannelName']!r}")
        hps = definition.get(hps_key) or {}
        if hps.get("sagemaker_submit_directory"):
            hps["sagemaker_submit_directory"] = json.dumps(
                up(json.loads(hps["sagemaker_submit_directory"]), "the job's source", code=True))

    if kind == "training":
        training(req, "HyperParameters")
    elif kind == "tuning":
        training(req["TrainingJobDefinition"], "StaticHyperParameters")
    elif kind == "processing":
        for inp in req.get("ProcessingInputs") or []:
            s3 = inp["S3Input"]
            s3["S3Uri"] = up(s3["S3Uri"], f"input {inp['InputName']!r}", code=inp["InputName"] == "code")
    elif kind == "transform":
        src = req["TransformInput"]["DataSource"]["S3DataSource"]
        src["S3Uri"] = up(src["S3Uri"], "transform input")
    elif kind == "model-package":
        for i, container in enumerate((req.get("InferenceSpecification") or {}).get("Containers") or []):
            container["ModelDataUrl"] = up(container.get("ModelDataUrl"), f"container {i + 1}'s model_data")
            cfg = container.get("MlyardConfig") or {}
            if cfg.get("SourceUrl"):
                cfg["SourceUrl"] = up(cfg["SourceUrl"], "the model's code", code=True)
    elif kind == "model":
        containers = req.get("Containers") or [req["PrimaryContainer"]]
        for i, container in enumerate(containers):
            what = f"container {i + 1}'s " if len(containers) > 1 else ""
            container["ModelDataUrl"] = up(container.get("ModelDataUrl"), f"{what}model_data")
            if container.get("SourceUrl"):
                container["SourceUrl"] = up(container["SourceUrl"], f"{what}code", code=True)
        cfg = req.get("MlyardConfig") or {}
        if cfg.get("SourceUrl"):
            cfg["SourceUrl"] = up(cfg["SourceUrl"], "the model's code", code=True)


class Job:
    """A job in the control plane (training, processing or transform): describe, stop, logs, wait."""

    kind = "Training"

    def __init__(self, sagemaker_session: Session, job_name: str) -> None:
        self.sagemaker_session = sagemaker_session
        self.job_name = self.name = job_name

    def describe(self) -> dict[str, Any]:
        """SageMaker's Describe<Kind>Job; NotFoundError if no job of this kind has the name."""
        return _parse_times(self.sagemaker_session.client.describe_job(self.job_name, kind=self.kind.lower()))

    def stop(self) -> None:
        self.sagemaker_session.client.stop_job(self.job_name, kind=self.kind.lower())

    def logs(self, follow: bool = False, out: Any = None) -> None:
        stream = out or sys.stdout
        for chunk in self.sagemaker_session.client.job_logs(self.job_name, follow=follow):
            stream.write(chunk.decode("utf-8", errors="replace"))
            stream.flush()

    def wait(self, logs: bool | str = True) -> dict[str, Any]:
        """Block until the job ends (streaming its logs with ``logs``); raise
        ``UnexpectedStatusException`` if it failed."""
        if logs and logs != "None":
            self.logs(follow=True)
        return self._wait_ended()

    def _wait_once(self) -> dict[str, Any]:
        """The description once the job has ended, or after the server's wait timed out."""
        return self.sagemaker_session.client.wait_job(self.job_name, timeout=20, kind=self.kind.lower())

    def _wait_ended(self, progress: Callable[[], None] | None = None) -> dict[str, Any]:
        key = f"{self.kind}JobStatus"
        while True:
            desc = self._wait_once()
            if progress is not None:
                progress()
            if desc[key] in TERMINAL:
                break
        status = desc[key]
        if status == "Failed":
            raise UnexpectedStatusException(
                f"Error for {self.kind} job {self.job_name}: Failed. Reason: {desc.get('FailureReason')}",
                allowed_statuses=["Completed", "Stopped"], actual_status=status)
        if status == "Stopped" and desc.get("FailureReason"):
            warnings.warn(f"{self.kind} job {self.job_name} stopped: {desc['FailureReason']}", stacklevel=3)
        return _parse_times(desc)


class TrainingJob(Job):
    """A training job (SageMaker's ``_TrainingJob``)."""

    kind = "Training"
