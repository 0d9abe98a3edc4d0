"""Jobs in the control plane (training, processing, transform; tuning through ``tuner``): the
handle every SDK module shares (describe, stop, logs, wait), and the helpers of their requests.
It imports no other SDK module but ``session``, so any of them may import it."""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mlyard.errors import ConflictError, MlyardWarning, UnexpectedStatusException, ValidationError
from mlyard.naming import base_name_from_image, name_from_base
from mlyard.session import Session
from mlyard.statuses import TERMINAL
from mlyard.validation import check_count, check_name

__all__ = ["Job", "TrainingJob", "base_name", "check_instances", "create_job"]

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


def _file_uri(uri: str) -> str:
    """``file://relative`` and plain paths become absolute ``file://`` URIs; others pass through."""
    if uri.startswith("file://"):
        path = uri[len("file://"):]
        return "file://" + os.path.abspath(path)
    if "://" not in uri:
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


def create_job(base_name: str, job_name: str | None, create: Callable[[str], dict[str, Any]],
               make_name: Callable[[str], str] = name_from_base, what: str = "job_name",
               max_length: int = 63) -> str:
    """Create a job with ``create(name)``: under ``job_name``, or a unique name from
    ``base_name`` (a name taken meanwhile is replaced by a fresh one). The name is checked before
    ``create`` runs, so nothing is uploaded for a name the control plane would refuse. Warnings
    the control plane returns are raised as ``MlyardWarning``. Returns the job's name."""
    for attempt in range(5):
        name = job_name or make_name(base_name)
        check_name(what if job_name else f"{what} made from the base name {base_name!r}", name, max_length)
        try:
            created = create(name)
            break
        except ConflictError:
            if job_name or attempt == 4:
                raise
            time.sleep(0.002)
    for message in created.get("Warnings") or []:
        warnings.warn(f"{name}: {message}", MlyardWarning, stacklevel=3)
    return name


class Job:
    """A job in the control plane (training, processing or transform): describe, stop, logs, wait."""

    kind = "Training"

    def __init__(self, sagemaker_session: Session, job_name: str) -> None:
        self.sagemaker_session = sagemaker_session
        self.job_name = self.name = job_name

    def describe(self) -> dict[str, Any]:
        return _parse_times(self.sagemaker_session.client.describe_job(self.job_name))

    def stop(self) -> None:
        self.sagemaker_session.client.stop_job(self.job_name)

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
        return self.sagemaker_session.client.wait_job(self.job_name, timeout=20)

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
