"""``s3://`` URIs: split, and checked for their form (the scheme, a bucket, a key where one is
needed). Pure and light: the SDK (``mlyard.s3``) and the control plane (``server.buckets``,
``store``) share these checks without importing each other."""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError

__all__ = ["split_s3", "check_s3_form"]


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3://bucket/key`` URI (key may be empty); nothing is checked."""
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def check_s3_form(what: str | None, uri: Any, need_key: bool = False) -> tuple[str, str]:
    """(bucket, key) of ``uri`` if it is an ``s3://bucket[/key]`` URI (with a key where
    ``need_key``); else a ValidationError naming ``what`` (if given). The bucket name's own rules
    are the caller's to check (a local bucket may break them)."""
    prefix = f"{what}: " if what else ""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        shown = repr(uri) if isinstance(uri, str) else f"{uri!r} ({type(uri).__name__})"
        raise ValidationError(f"{prefix}{shown} is not a valid S3 URI; write s3://bucket/key")
    bucket, key = split_s3(uri)
    if not bucket:
        raise ValidationError(f"{prefix}{uri!r} names no bucket; write s3://bucket/key")
    if need_key and not key.strip("/"):
        raise ValidationError(f"{prefix}{uri!r} names a bucket but no object; write s3://{bucket}/path/to/object")
    return bucket, key
