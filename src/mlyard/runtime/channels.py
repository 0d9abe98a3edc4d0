"""Input objects and how they are dealt to hosts (FullyReplicated, ShardedByS3Key)."""

from __future__ import annotations

import json

from mlyard import store
from mlyard.errors import ValidationError

__all__ = ["resolve_objects", "assign"]


def resolve_objects(uri: str, data_type: str = "S3Prefix") -> list[tuple[str, str]]:
    """(object URI, key) for every object an input names. ``S3Prefix``: all objects under the
    prefix; ``ManifestFile``: the manifest's ``[{"prefix": P}, "key1", ...]``."""
    if data_type == "ManifestFile":
        try:
            manifest = json.loads(store.read_bytes(uri))
            prefix = manifest[0]["prefix"]
            keys = [k for k in manifest[1:] if isinstance(k, str)]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ValidationError(
                f"manifest {uri!r} is not a JSON list starting with {{\"prefix\": ...}}: {exc}") from exc
        return [(store.join(prefix, k), k) for k in keys]
    if data_type not in ("S3Prefix", "S3Object"):
        raise ValidationError(f"S3DataType {data_type!r} is not supported; use S3Prefix or ManifestFile")
    return store.list_objects(uri)


def assign(objects: list[tuple[str, str]], hosts: list[str], distribution: str) -> dict[str, list[tuple[str, str]]]:
    """Which objects each host gets. Sharding deals the objects, sorted by key, round-robin: each
    object goes to exactly one host, the same one every time."""
    if distribution == "FullyReplicated":
        return {h: list(objects) for h in hosts}
    if distribution != "ShardedByS3Key":
        raise ValidationError(
            f"S3DataDistributionType {distribution!r} is not valid; use FullyReplicated or ShardedByS3Key")
    ordered = sorted(objects, key=lambda o: o[1])
    return {h: ordered[i::len(hosts)] for i, h in enumerate(hosts)}
