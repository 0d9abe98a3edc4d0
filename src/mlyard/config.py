"""Where mlyard keeps its state, and the environment variables that move it."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from mlyard.errors import ValidationError

__all__ = ["home", "database_url", "store_root", "max_upload_bytes", "HOME_ENV", "region", "account_id",
           "default_bucket", "local_buckets", "bucket_root", "check_bucket_name", "LOCAL_BUCKETS_ENV"]

HOME_ENV = "MLYARD_HOME"


def home() -> Path:
    """``$MLYARD_HOME``, default ``~/.mlyard``; created with mode 0700."""
    path = Path(os.environ.get(HOME_ENV) or "~/.mlyard").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def database_url(base: Path | None = None) -> str:
    """``$MLYARD_DATABASE_URL``, default a SQLite file in the home."""
    url = os.environ.get("MLYARD_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{(base or home()) / 'catalog.db'}"


def store_root(base: Path | None = None) -> str:
    """``$MLYARD_STORE`` (any fsspec URI), default ``file://<home>/store``."""
    url = os.environ.get("MLYARD_STORE")
    if url:
        return url.rstrip("/")
    root = (base or home()) / "store"
    root.mkdir(parents=True, exist_ok=True)
    return f"file://{root}"


def runs_root(base: Path | None = None) -> str:
    """Where jobs' runner channels live: ``$MLYARD_RUNS`` (a folder, or any fsspec URI every
    machine that runs jobs reaches, such as ``s3://bucket/runs``), default ``<home>/jobs``."""
    given = os.environ.get("MLYARD_RUNS")
    if given:
        return given.rstrip("/")
    return str((base or home()) / "jobs")


DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024**3


def max_upload_bytes() -> int:
    """``$MLYARD_MAX_UPLOAD_BYTES``: the largest object the control plane accepts in one upload
    (default 50 GiB; larger uploads are refused with 413)."""
    raw = os.environ.get("MLYARD_MAX_UPLOAD_BYTES")
    if not raw:
        return DEFAULT_MAX_UPLOAD_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"MLYARD_MAX_UPLOAD_BYTES={raw!r} must be a whole number of bytes")
    return value


# -- buckets ------------------------------------------------------------------------------------
# ``s3://<bucket>/<key>`` names an object in a bucket that mlyard serves itself (a *local* bucket,
# in the embedded store) or in real S3. Which buckets are local is configuration, never a guess:
# the default bucket, the names in $MLYARD_LOCAL_BUCKETS and the buckets created with
# ``mlyard buckets create`` (folders under $MLYARD_HOME/buckets).

LOCAL_BUCKETS_ENV = "MLYARD_LOCAL_BUCKETS"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` breaks S3's rules for bucket names (None if it follows them)."""
    if not 3 <= len(name) <= 63:
        return f"it has {len(name)} characters; a bucket name has 3 to 63"
    if not _BUCKET.match(name):
        return ("a bucket name holds only lowercase letters, digits, '.' and '-', and begins and ends with "
                "a letter or a digit")
    if ".." in name:
        return "a bucket name has no two periods in a row"
    if _IP.match(name):
        return "a bucket name is not formatted as an IP address"
    if name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
        return "the prefixes 'xn--', 'sthree-' and the suffixes '-s3alias', '--ol-s3' are reserved"
    return None


def check_bucket_name(name: str, what: str = "bucket name") -> str:
    """``name`` if S3 would accept it as a bucket name; else a ValidationError saying why."""
    problem = bucket_name_problem(name)
    if problem:
        raise ValidationError(f"{what} {name!r} is not a valid S3 bucket name: {problem}")
    return name


def region() -> str:
    """``$MLYARD_REGION``, default ``local``: the region the Session reports and the default
    bucket is named after."""
    value = os.environ.get("MLYARD_REGION") or "local"
    if not _REGION.match(value):
        raise ValidationError(f"MLYARD_REGION={value!r} must be lowercase letters, digits and '-' "
                              "(such as 'local' or 'us-east-1')")
    return value


def account_id(base: Path | None = None) -> str:
    """This installation's account: 12 random digits, made once and kept in ``<home>/account_id``."""
    path = (base or home()) / "account_id"
    try:
        value = path.read_text().strip()
        if len(value) == 12 and value.isdigit():
            return value
    except FileNotFoundError:
        pass
    value = "".join(secrets.choice("0123456789") for _ in range(12))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # another process made it meanwhile: its value wins
        return account_id(base)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def default_bucket(base: Path | None = None) -> str:
    """``$MLYARD_DEFAULT_BUCKET``, default ``mlyard-<region>-<account>``: the bucket whose root
    is the store's root (what jobs write by default lives there)."""
    name = os.environ.get("MLYARD_DEFAULT_BUCKET")
    if name:
        return check_bucket_name(name, "MLYARD_DEFAULT_BUCKET")
    return f"mlyard-{region()}-{account_id(base)}"


def bucket_root(name: str, base: Path | None = None) -> str:
    """Where the local bucket ``name`` (not the default one) keeps its objects; the folder is made."""
    root = (base or home()) / "buckets" / check_bucket_name(name)
    root.mkdir(parents=True, exist_ok=True)
    return f"file://{root}"


def local_buckets(base: Path | None = None) -> dict[str, str]:
    """Every bucket mlyard serves itself, name -> root URI: the default bucket (the store's
    root), the names in ``$MLYARD_LOCAL_BUCKETS`` (comma-separated) and the buckets created
    locally (folders under ``<home>/buckets``)."""
    base = base or home()
    table = {default_bucket(base): store_root(base)}
    for name in (n.strip() for n in os.environ.get(LOCAL_BUCKETS_ENV, "").split(",")):
        if name and name not in table:
            table[name] = bucket_root(check_bucket_name(name, LOCAL_BUCKETS_ENV), base)
    folder = base / "buckets"
    if folder.is_dir():
        for entry in sorted(folder.iterdir()):
            if entry.name not in table and entry.is_dir() and bucket_name_problem(entry.name) is None:
                table[entry.name] = f"file://{entry}"
    return table
