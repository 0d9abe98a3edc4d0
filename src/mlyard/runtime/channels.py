"""Input objects and how they are dealt to hosts (FullyReplicated, ShardedByS3Key), and reading
them: local ones only where the server's source rule allows (mlyard.store.paths)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlyard import store
from mlyard.errors import ValidationError
from mlyard.store.paths import SourcePolicy, copy_file, list_files, read_file

__all__ = ["resolve_objects", "assign", "fetch", "read", "source_policy"]


def source_policy(spec: dict[str, Any]) -> SourcePolicy:
    """The rule a runner reads local sources by: the one its server wrote into the spec."""
    if spec.get("sources") is not None:
        return SourcePolicy.from_json(spec["sources"])
    return SourcePolicy.from_environment(Path(spec["mlyard_home"]), spec["store_root"])


def _read(uri: str, policy: SourcePolicy | None, what: str) -> bytes:
    local = store.local_path(uri)
    if local is None or policy is None:
        return store.read_bytes(uri)
    policy.check(f"the manifest of {what}", uri)
    return read_file(local.parent, local.name, policy)


def resolve_objects(uri: str, data_type: str = "S3Prefix", policy: SourcePolicy | None = None,
                    what: str = "the input") -> list[tuple[str, str]]:
    """(object URI, key) for every object an input names. ``S3Prefix``: all objects under the
    prefix; ``ManifestFile``: the manifest's ``[{"prefix": P}, "key1", ...]``. With ``policy``,
    local objects are listed only where it allows, links leading out of their folder raise
    ValidationError and anything but regular files is left out."""
    if data_type == "ManifestFile":
        try:
            manifest = json.loads(_read(uri, policy, what))
            prefix = manifest[0]["prefix"]
            keys = [k for k in manifest[1:] if isinstance(k, str)]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ValidationError(
                f"manifest {uri!r} is not a JSON list starting with {{\"prefix\": ...}}: {exc}") from exc
        if policy is not None and isinstance(prefix, str):
            policy.check(f"the prefix in the manifest of {what}", prefix)
        return [(store.join(prefix, k), k) for k in keys]
    if data_type not in ("S3Prefix", "S3Object"):
        raise ValidationError(f"S3DataType {data_type!r} is not supported; use S3Prefix or ManifestFile")
    local = store.local_path(uri)
    if local is None or policy is None:
        return store.list_objects(uri)
    real = policy.check(what, uri)
    assert real is not None
    if real.is_dir():
        return [(f"file://{real}/{key}", key) for key in list_files(real, policy)]
    if real.is_file():
        return [(f"file://{real}", real.name)]
    return []


def _split(local: Path, key: str) -> tuple[Path, str]:
    """The folder an object was listed in, and its key there."""
    text = str(local)
    if key and text.endswith("/" + key):
        return Path(text[:-len(key)].rstrip("/") or "/"), key
    return local.parent, local.name


def fetch(uri: str, key: str, dest: Path, policy: SourcePolicy | None) -> Path:
    """Copy the object ``uri`` (listed under ``key`` by resolve_objects) to the file ``dest``; a
    local one with mlyard.store.paths.copy_file, within the folder it was listed in."""
    local = store.local_path(uri)
    if local is None or policy is None:
        return store.download(uri, dest)
    return copy_file(*_split(local, key), dest, policy)


def read(uri: str, key: str, policy: SourcePolicy | None) -> bytes:
    """The bytes of the object ``uri`` (see fetch)."""
    local = store.local_path(uri)
    if local is None or policy is None:
        return store.read_bytes(uri)
    return read_file(*_split(local, key), policy)


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
