"""``Session``: the SDK's handle on a control plane (SageMaker's ``sagemaker.Session``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlyard.client import Client, default_client
from mlyard.errors import ValidationError

__all__ = ["Session", "LocalSession", "get_execution_role"]

_ROLE = "arn:aws:iam::000000000000:role/mlyard-local"


class Session:
    """Talks to the control plane named by ``MLYARD_URL``/``MLYARD_TOKEN``, or to the local one
    (started on first use). ``sandbox=True`` makes every job of this session run sandboxed."""

    def __init__(self, client: Client | None = None, default_bucket: str | None = None, sandbox: bool = False,
                 **_ignored: Any) -> None:
        self._client = client
        self._default_bucket = default_bucket
        self.sandbox = sandbox
        self.local_mode = True

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = default_client()
        return self._client

    @property
    def boto_region_name(self) -> str:
        return "local"

    def default_bucket(self) -> str:
        """The store's root URI (SageMaker returns a bucket name; here every URI is a full URI)."""
        return self._default_bucket or str(self.client.health()["store"])

    def upload_data(self, path: str, bucket: str | None = None, key_prefix: str = "data",
                    extra_args: Any = None) -> str:
        """Upload a file or a directory to the store under ``key_prefix``; return its URI."""
        src = Path(path)
        if not src.exists():
            raise ValidationError(f"upload_data: {path!r} does not exist")
        prefix = key_prefix.strip("/")
        if src.is_file():
            return self.client.upload(f"{prefix}/{src.name}", src)
        files = sorted(p for p in src.rglob("*") if p.is_file())
        if not files:
            raise ValidationError(f"upload_data: directory {path!r} is empty")
        for f in files:
            self.client.upload(f"{prefix}/{f.relative_to(src).as_posix()}", f)
        return f"{self.client.health()['store']}/{prefix}"

    def describe_training_job(self, job_name: str) -> dict[str, Any]:
        from mlyard.jobs import _parse_times

        return _parse_times(self.client.describe_job(job_name))

    def stop_training_job(self, job_name: str) -> None:
        self.client.stop_job(job_name)

    def wait_for_job(self, job: str, poll: int = 5) -> dict[str, Any]:
        from mlyard.jobs import TrainingJob

        return TrainingJob(self, job).wait(logs=False)


LocalSession = Session


def get_execution_role(sagemaker_session: Session | None = None) -> str:
    """A placeholder role ARN: local jobs run as the current user."""
    return _ROLE
