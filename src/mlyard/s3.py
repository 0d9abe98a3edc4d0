"""SageMaker's ``sagemaker.s3`` helpers: copy to and from ``s3://`` URIs, join and split them.

Every transfer goes through the session's control plane, which serves the buckets it keeps in
its own store (the default bucket, buckets created with ``mlyard buckets create``) and reaches any
other bucket in real S3: a notebook's ``S3Uploader.upload(..., f"s3://{bucket}/data")`` works
with no AWS account, and against S3 once the server is given credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlyard.uris import check_s3_form

if TYPE_CHECKING:
    from mlyard.session import Session

__all__ = ["S3Uploader", "S3Downloader", "s3_path_join", "parse_s3_url", "is_s3_url"]


def is_s3_url(url: str) -> bool:
    return isinstance(url, str) and url.startswith("s3://")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key`` (the key may be empty); ValidationError for
    anything else."""
    return check_s3_form(None, url)


def s3_path_join(*args: str | None, with_end_slash: bool = False) -> str:
    """Join the parts with single slashes (empty parts left out); an ``s3://`` first part keeps
    its scheme. ``s3_path_join("s3://", "bucket", "a/", "/b")`` is ``s3://bucket/a/b``."""
    parts = [a for a in args if a]
    scheme = ""
    if parts and parts[0].startswith("s3://"):
        scheme = "s3://"
        parts[0] = parts[0][len(scheme):]
    joined = "/".join(p for part in parts for p in part.split("/") if p)
    if with_end_slash and joined:
        joined += "/"
    return scheme + joined


def _session(sagemaker_session: Session | None) -> Session:
    if sagemaker_session is not None:
        return sagemaker_session
    from mlyard.session import Session

    return Session()


class S3Uploader:
    """Writes local files, strings and bytes to ``s3://`` URIs."""

    @staticmethod
    def upload(local_path: str, desired_s3_uri: str, kms_key: str | None = None,
               sagemaker_session: Session | None = None, callback: Any = None) -> str:
        """Upload a file (to ``desired_s3_uri/<file name>``) or a folder (its files below
        ``desired_s3_uri``); return the file's URI, or ``desired_s3_uri`` for a folder."""
        bucket, key = parse_s3_url(desired_s3_uri)
        return _session(sagemaker_session).upload_data(local_path, bucket=bucket, key_prefix=key)

    @staticmethod
    def upload_string_as_file_body(body: str, desired_s3_uri: str, kms_key: str | None = None,
                                   sagemaker_session: Session | None = None) -> str:
        """Write ``body`` (UTF-8) as the object ``desired_s3_uri``; return the URI."""
        check_s3_form("upload_string_as_file_body", desired_s3_uri, need_key=True)
        return _session(sagemaker_session).client.upload_uri(desired_s3_uri, body.encode("utf-8"))

    @staticmethod
    def upload_bytes(b: bytes | Any, s3_uri: str, kms_key: str | None = None,
                     sagemaker_session: Session | None = None) -> str:
        """Write ``b`` (bytes, or a binary file object) as the object ``s3_uri``; return the URI."""
        check_s3_form("upload_bytes", s3_uri, need_key=True)
        data = b if isinstance(b, (bytes, bytearray)) else b.read()
        return _session(sagemaker_session).client.upload_uri(s3_uri, bytes(data))


class S3Downloader:
    """Reads ``s3://`` objects and prefixes."""

    @staticmethod
    def download(s3_uri: str, local_path: str, kms_key: str | None = None,
                 sagemaker_session: Session | None = None) -> list[str]:
        """Download the object ``s3_uri``, or every object under that prefix (their paths below
        it kept), into the folder ``local_path``; return the local files' paths."""
        bucket, key = parse_s3_url(s3_uri)
        return _session(sagemaker_session).download_data(local_path, bucket, key)

    @staticmethod
    def read_file(s3_uri: str, sagemaker_session: Session | None = None) -> str:
        """The object ``s3_uri`` as text (UTF-8)."""
        return S3Downloader.read_bytes(s3_uri, sagemaker_session).decode("utf-8")

    @staticmethod
    def read_bytes(s3_uri: str, sagemaker_session: Session | None = None) -> bytes:
        """The object ``s3_uri``'s bytes."""
        check_s3_form("read_file", s3_uri, need_key=True)
        return _session(sagemaker_session).client.read_uri(s3_uri)

    @staticmethod
    def list(s3_uri: str, sagemaker_session: Session | None = None) -> list[str]:
        """The URIs of every object under the prefix ``s3_uri``."""
        parse_s3_url(s3_uri)
        return _session(sagemaker_session).client.list_uri(s3_uri)

