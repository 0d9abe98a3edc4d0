"""Request and response bodies by content type: JSON, JSON Lines, CSV, NPY, NPZ."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import numpy as np
import orjson

from mlyard.errors import UnsupportedMediaTypeError, ValidationError

__all__ = ["JSON", "JSONLINES", "CSV", "NPY", "NPZ", "media_type", "decode", "encode", "to_jsonable"]

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
NPY = "application/x-npy"
NPZ = "application/x-npz"
_ALIASES = {"application/jsonl": JSONLINES, "application/x-jsonlines": JSONLINES, "application/json-lines": JSONLINES,
            "application/x-ndjson": JSONLINES, "text/plain": CSV, "application/octet-stream": NPY}
DECODABLE = (JSON, JSONLINES, CSV, NPY, NPZ)


def media_type(header: str | None, default: str = JSON) -> str:
    """The media type of a Content-Type or Accept header, without parameters (``*/*`` -> default)."""
    if not header:
        return default
    first = header.split(",")[0].split(";")[0].strip().lower()
    if first in ("*/*", ""):
        return default
    return _ALIASES.get(first, first)


def decode(body: bytes, content_type: str) -> Any:
    """Parse a body: JSON -> Python values, JSON Lines -> a list of them, CSV -> a float array
    (one row per line), NPY -> an array, NPZ -> a dict of arrays (pickles are refused)."""
    if not body.strip():
        raise ValidationError("the request body is empty: send the instances to predict")
    try:
        if content_type == JSON:
            return orjson.loads(body)
        if content_type == JSONLINES:
            return [orjson.loads(line) for line in body.splitlines() if line.strip()]
        if content_type == CSV:
            return np.loadtxt(io.StringIO(body.decode()), delimiter=",", dtype="float32", ndmin=2)
        if content_type == NPY:
            _check_npy_size(io.BytesIO(body), len(body))
            return np.load(io.BytesIO(body), allow_pickle=False)
        if content_type == NPZ:
            with zipfile.ZipFile(io.BytesIO(body)) as zf:
                if sum(i.file_size for i in zf.infolist()) > _MAX_EXPANDED:
                    raise ValueError(f"the archive expands to more than {_MAX_EXPANDED // 2**20} MB")
            with np.load(io.BytesIO(body), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    except (ValueError, TypeError, UnicodeDecodeError, OSError, EOFError, zipfile.BadZipFile, MemoryError,
            orjson.JSONDecodeError) as exc:
        raise ValidationError(f"the request body is not valid {content_type}: {exc}") from exc
    raise UnsupportedMediaTypeError(
        f"Unsupported Media Type: {content_type}; send one of {', '.join(DECODABLE)}")


_MAX_EXPANDED = 512 * 2**20


def _check_npy_size(stream: io.BytesIO, available: int) -> None:
    """Refuse an NPY header that claims more data than the body holds (before allocating it)."""
    version = np.lib.format.read_magic(stream)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = reader(stream)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else dtype.itemsize
    if size > available:
        raise ValueError(f"the header declares {size} bytes of data; the body has {available}")


def to_jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


def encode(value: Any, accept: str) -> tuple[bytes, str]:
    """Serialize a prediction for ``accept``; returns (body, content type)."""
    if accept == JSON:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=to_jsonable), JSON
    if accept == JSONLINES:
        rows = value if isinstance(value, (list, np.ndarray)) else [value]
        return b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY, default=to_jsonable) + b"\n"
                        for r in rows), JSONLINES
    if accept == CSV:
        array = np.asarray(value)
        if array.ndim == 0:
            array = array.reshape(1, 1)
        elif array.ndim == 1:
            array = array.reshape(-1, 1)
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(array.reshape(array.shape[0], -1).tolist())
        return out.getvalue().encode(), CSV
    if accept == NPY:
        buf = io.BytesIO()
        np.save(buf, np.asarray(value), allow_pickle=False)
        return buf.getvalue(), NPY
    raise UnsupportedMediaTypeError(f"cannot answer in {accept}; accept one of {JSON}, {JSONLINES}, {CSV}, {NPY}")
