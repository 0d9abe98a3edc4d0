"""``s3://`` URIs checked when something is created: a malformed URI, or a bucket that is neither
local nor reachable, is the user's to fix (400 naming the argument), not a job that fails later.

Local buckets (the store's table, ``mlyard.store.buckets``) need no check beyond their key. Any
other bucket is real S3: s3fs must be installed, and the bucket must answer a ``HeadBucket``,
asked once with short time-outs and no retries (a bucket reached is not asked again for a
minute, so creating many jobs costs one request).
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import threading
import time
from typing import Any

from mlyard import config, store
from mlyard.errors import ValidationError
from mlyard.store.paths import check_characters
from mlyard.uris import check_s3_form

__all__ = ["check_s3_uri", "s3_settings", "s3_problem"]

_REACHED: dict[str, float] = {}  # bucket -> when it last answered (monotonic)
_REACHED_TTL = 60.0
_TIMEOUT = 10.0  # the longest one check may take, whatever the network does
_lock = threading.Lock()


def _how_to_fix(bucket: str) -> str:
    return (f"To keep it in mlyard's own store, make it a local bucket: `mlyard buckets create {bucket}` (or add "
            f"it to {config.LOCAL_BUCKETS_ENV} on the server). To use S3, install mlyard with the 's3' extra "
            "(pip install 'mlyard[s3]') where the server runs, give it AWS credentials (AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY or a profile) and, for MinIO and other S3-compatible servers, AWS_ENDPOINT_URL.")


def s3fs_installed() -> bool:
    """Whether s3fs is there to be imported (cheap: nothing is imported)."""
    return importlib.util.find_spec("s3fs") is not None


def _s3fs_usable() -> bool:
    try:
        import s3fs  # noqa: F401
    except ImportError:
        return False
    return True


def s3_settings() -> dict[str, Any]:
    """What the server knows of real S3: s3fs installed, the endpoint, whether credentials are set."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
    creds = bool(any(os.environ.get(n) for n in names)
                 or os.path.exists(os.path.expanduser(os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
                                                      or "~/.aws/credentials")))
    return {"s3fs_installed": s3fs_installed(), "endpoint_url": os.environ.get("AWS_ENDPOINT_URL"),
            "credentials_configured": creds}


def _head_bucket(bucket: str) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, config_kwargs={
        "connect_timeout": 3, "read_timeout": 5, "retries": {"max_attempts": 1}})
    fs.call_s3("head_bucket", Bucket=bucket)


def s3_problem(bucket: str) -> str | None:
    """Why the real-S3 bucket ``bucket`` cannot be used from here (None if it answered)."""
    if not _s3fs_usable():
        return "it is not a local bucket, and s3fs (the 's3' extra) is not installed on the server"
    with _lock:
        if time.monotonic() - _REACHED.get(bucket, -_REACHED_TTL) < _REACHED_TTL:
            return None
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mlyard-s3-check")
    try:
        pool.submit(_head_bucket, bucket).result(timeout=_TIMEOUT)
    except concurrent.futures.TimeoutError:
        return f"S3 did not answer within {_TIMEOUT:.0f} s"
    except FileNotFoundError:
        return "S3 has no such bucket"
    except PermissionError:
        return "S3 denied access to it (check the credentials' permissions)"
    except Exception as exc:  # botocore's errors: no credentials, the endpoint refused the connection...
        name = type(exc).__name__
        if name == "NoCredentialsError":
            return "no AWS credentials were found on the server"
        return f"S3 could not be reached: {name}: {exc}"
    finally:
        pool.shutdown(wait=False)
    with _lock:
        _REACHED[bucket] = time.monotonic()
    return None


def check_s3_uri(what: str, uri: str, need_key: bool = False, reach: bool = True) -> str:
    """``uri`` if it can be used as ``what``; else a ValidationError naming ``what``. Checks any
    URI's characters (no NUL byte or other control character), an ``s3://`` URI's form (a valid
    bucket name; a key where ``need_key``) and, for a bucket that is not local, with ``reach``,
    that S3 answers for it. Other URIs are returned as they are."""
    if not isinstance(uri, str):
        raise ValidationError(f"{what}: {uri!r} is not a URI")
    check_characters(what, uri)  # a NUL byte would reach the OS (a 500), another control character mislead
    if uri[:3].lower() != "s3:":
        return uri
    bucket, _key = check_s3_form(what, uri, need_key)  # 's3:/x' too: a mistyped S3 URI, not a path
    local = store.buckets()
    if bucket not in local and (problem := config.bucket_name_problem(bucket)):
        raise ValidationError(f"{what}: {uri!r}: {bucket!r} is not a valid S3 bucket name: {problem}")
    if bucket in local:
        store.resolve(uri)  # a key leading out of the bucket is refused
        return uri
    if reach and (problem := s3_problem(bucket)):
        raise ValidationError(f"{what}: the bucket {bucket!r} of {uri!r} cannot be used: {problem}. "
                              + _how_to_fix(bucket))
    return uri
