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

    def _server_info(self) -> dict[str, Any]:
        """The server's ``/v1/health`` (asked once per session: region, account and buckets do not
        change while it runs)."""
        info: dict[str, Any] | None = getattr(self, "_health", None)
        if info is None:
            info = self._health = self.client.health()
        return info

    @property
    def boto_region_name(self) -> str:
        """The server's region (``MLYARD_REGION``, default ``local``)."""
        return str(self._server_info().get("region") or "local")

    def account_id(self) -> str:
        """The installation's account: 12 digits, stable per server home."""
        return str(self._server_info()["account_id"])

    def default_bucket(self) -> str:
        """The default bucket's NAME, as SageMaker returns it (``mlyard-<region>-<account>``): build
        URIs as ``f"s3://{sess.default_bucket()}/prefix"``. mlyard keeps it in its own store."""
        if not self._default_bucket:
            self._default_bucket = str(self._server_info()["default_bucket"])
        return self._default_bucket

    def create_bucket(self, name: str) -> str:
        """(mlyard only) Make ``name`` a bucket kept in mlyard's own store; return ``name``."""
        self.client.create_bucket(name)
        return name

    def _prefixed(self, bucket: str | None, key_prefix: str) -> tuple[str, str]:
        """``bucket`` (default: the default bucket, under ``default_bucket_prefix`` if set) and the key prefix."""
        if bucket:
            return bucket, key_prefix.strip("/")
        prefix = (getattr(self, "default_bucket_prefix", None) or "").strip("/")
        return self.default_bucket(), "/".join(p for p in (prefix, key_prefix.strip("/")) if p)

    def upload_data(self, path: str, bucket: str | None = None, key_prefix: str = "data",
                    extra_args: Any = None) -> str:
        """Upload a file or a directory to ``s3://bucket/key_prefix`` (default: the default bucket);
        return ``s3://bucket/key_prefix/<file name>`` for a file, ``s3://bucket/key_prefix`` for a
        directory (its files keep their paths below it), as SageMaker does."""
        from mlyard.s3 import s3_path_join

        src = Path(path)
        if not src.exists():
            raise ValidationError(f"upload_data: path {path!r} does not exist")
        bucket, prefix = self._prefixed(bucket, key_prefix)
        base = s3_path_join("s3://", bucket, prefix)
        if src.is_file():
            return self.client.upload_uri(s3_path_join(base, src.name), src)
        files = sorted(p for p in src.rglob("*") if p.is_file())
        if not files:
            raise ValidationError(f"upload_data: directory {path!r} is empty")
        for f in files:
            self.client.upload_uri(s3_path_join(base, f.relative_to(src).as_posix()), f)
        return base

    def upload_string_as_file_body(self, body: str, bucket: str, key: str, kms_key: str | None = None) -> str:
        """Write ``body`` as the object ``s3://bucket/key``; return its URI."""
        from mlyard.s3 import s3_path_join

        return self.client.upload_uri(s3_path_join("s3://", bucket, key), body.encode())

    def list_s3_files(self, bucket: str, key_prefix: str) -> list[str]:
        """The keys of every object under ``s3://bucket/key_prefix``."""
        from mlyard.s3 import parse_s3_url, s3_path_join

        return [parse_s3_url(u)[1] for u in self.client.list_uri(s3_path_join("s3://", bucket, key_prefix))]

    def read_s3_file(self, bucket: str, key_prefix: str) -> str:
        """The object ``s3://bucket/key_prefix`` as text (UTF-8)."""
        from mlyard.s3 import s3_path_join

        return self.client.read_uri(s3_path_join("s3://", bucket, key_prefix)).decode("utf-8")

    def download_data(self, path: str, bucket: str, key_prefix: str = "", extra_args: Any = None) -> list[str]:
        """Download the object ``s3://bucket/key_prefix``, or every object under that prefix (their
        paths below it kept), into the folder ``path``; return the local files' paths."""
        from mlyard.s3 import s3_path_join

        uri = s3_path_join("s3://", bucket, key_prefix)
        objects = self.client.list_uri(uri)
        if not objects:
            raise ValidationError(f"download_data: nothing found at {uri!r}")
        out = []
        for obj in objects:
            rel = obj.rsplit("/", 1)[-1] if obj == uri.rstrip("/") else obj[len(uri.rstrip("/")) + 1:]
            out.append(str(self.client.download(obj, Path(path) / rel)))
        return out

    def describe_training_job(self, job_name: str) -> dict[str, Any]:
        from mlyard.estimator import _parse_times

        return _parse_times(self.client.describe_job(job_name))

    def stop_training_job(self, job_name: str) -> None:
        self.client.stop_job(job_name)

    def wait_for_job(self, job: str, poll: int = 5) -> dict[str, Any]:
        from mlyard.estimator import TrainingJob

        return TrainingJob(self, job).wait(logs=False)


LocalSession = Session


def get_execution_role(sagemaker_session: Session | None = None) -> str:
    """A placeholder role ARN: local jobs run as the current user."""
    return _ROLE
