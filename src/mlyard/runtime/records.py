"""Batch transform's records: splitting objects (Line, RecordIO, TFRecord), mini-batches,
JSONPath filters and joins (SageMaker's DataProcessing)."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
from collections.abc import Iterator
from typing import Any

__all__ = ["split_records", "mini_batches", "join_payload", "jsonpath", "Record"]

Record = bytes
_RECORDIO_MAGIC = 0xCED7230A


def split_records(data: bytes, split_type: str | None) -> list[Record]:
    """The records of one object. RecordIO and TFRecord records keep their framing (the model
    server receives them framed, as SageMaker sends them)."""
    if not split_type or split_type == "None":
        return [data] if data else []
    if split_type == "Line":
        return [line for line in data.splitlines() if line.strip()]
    if split_type == "RecordIO":
        return list(_recordio(data))
    if split_type == "TFRecord":
        return list(_tfrecord(data))
    raise ValueError(f"SplitType {split_type!r} is not one of None, Line, RecordIO, TFRecord")


def _recordio(data: bytes) -> Iterator[bytes]:
    pos = 0
    while pos < len(data):
        if len(data) - pos < 8:
            raise ValueError(f"truncated RecordIO header at byte {pos}")
        magic, word = struct.unpack_from("<II", data, pos)
        if magic != _RECORDIO_MAGIC:
            raise ValueError(f"not RecordIO: bad magic number at byte {pos}")
        length = word & ((1 << 29) - 1)
        end = pos + 8 + length + (-length % 4)
        if end > len(data):
            raise ValueError(f"truncated RecordIO record at byte {pos}")
        yield data[pos:end]
        pos = end


def _tfrecord(data: bytes) -> Iterator[bytes]:
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            raise ValueError(f"truncated TFRecord header at byte {pos}")
        (length,) = struct.unpack_from("<Q", data, pos)
        end = pos + 12 + length + 4
        if end > len(data):
            raise ValueError(f"truncated TFRecord record at byte {pos}")
        yield data[pos:end]
        pos = end


def join_payload(records: list[Record], split_type: str | None) -> bytes:
    if split_type == "Line":
        return b"\n".join(records) + b"\n"
    return b"".join(records)


def mini_batches(records: list[Record], strategy: str, max_payload: int, split_type: str | None
                 ) -> Iterator[list[Record]]:
    """SingleRecord: one record per request. MultiRecord: as many as fit in ``max_payload`` bytes
    (a record larger than that goes alone; the server then answers 413)."""
    if strategy == "SingleRecord":
        for r in records:
            yield [r]
        return
    batch: list[Record] = []
    size = 0
    sep = 1 if split_type == "Line" else 0
    for r in records:
        if batch and size + len(r) + sep > max_payload:
            yield batch
            batch, size = [], 0
        batch.append(r)
        size += len(r) + sep
    if batch:
        yield batch


# -- JSONPath (the subset SageMaker's filters use: $, .name, ['name'], [i], [a:b], [i,j]) ------------
_TOKEN = re.compile(r"\.([A-Za-z_][\w-]*)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(-?\d*)\s*:\s*(-?\d*)\s*\]"
                    r"|\[\s*(-?\d+(?:\s*,\s*-?\d+)*)\s*\]")


def parse_jsonpath(path: str) -> list[re.Match[str]]:
    """The steps of a JSONPath (``.name``, ``['name']``, ``[i]``, ``[a:b]``, ``[i,j]``); ValueError
    when it is not one mlyard reads."""
    if not path.startswith("$"):
        raise ValueError(f"JSONPath {path!r} must start with '$'")
    rest, pos, steps = path[1:], 0, []
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        if not m:
            raise ValueError(f"JSONPath {path!r}: cannot read {rest[pos:]!r} (supported: .name, ['name'], [i], "
                             "[a:b], [i,j])")
        steps.append(m)
        pos = m.end()
    return steps


def jsonpath(value: Any, path: str) -> Any:
    for m in parse_jsonpath(path):
        name = m.group(1) or m.group(2) or m.group(3)
        if name is not None:
            if not isinstance(value, dict) or name not in value:
                raise ValueError(f"JSONPath {path!r}: no key {name!r} in {str(value)[:80]}")
            value = value[name]
        elif m.group(6) is not None:
            idx = [int(i) for i in m.group(6).split(",")]
            if not isinstance(value, list):
                raise ValueError(f"JSONPath {path!r}: indexing a {type(value).__name__}")
            try:
                picked = [value[i] for i in idx]
            except IndexError as exc:
                raise ValueError(f"JSONPath {path!r}: index out of range for {len(value)} items") from exc
            value = picked[0] if len(idx) == 1 else picked
        else:
            start = int(m.group(4)) if m.group(4) else None
            end = int(m.group(5)) if m.group(5) else None
            if not isinstance(value, list):
                raise ValueError(f"JSONPath {path!r}: slicing a {type(value).__name__}")
            value = value[start:end]
    return value


def parse_record(record: bytes, content_type: str) -> Any:
    text = record.decode()
    if content_type == "text/csv":
        rows = list(csv.reader(io.StringIO(text)))
        return rows[0] if len(rows) == 1 else rows
    return json.loads(text)


def render_record(value: Any, content_type: str) -> bytes:
    if content_type == "text/csv":
        out = io.StringIO()
        row = value if isinstance(value, list) else [value]
        csv.writer(out, lineterminator="").writerow(row)
        return out.getvalue().encode()
    return json.dumps(value, separators=(",", ":")).encode()


def split_response(body: bytes, content_type: str, n: int) -> list[Any] | None:
    """One output per record of the request, if the response can be split that way."""
    ct = content_type.split(";")[0].strip()
    if ct == "text/csv":
        rows = [r for r in csv.reader(io.StringIO(body.decode())) if r]
        return [r[0] if len(r) == 1 else r for r in rows] if len(rows) == n else None
    if ct in ("application/jsonlines", "application/x-jsonlines"):
        lines = [json.loads(x) for x in body.splitlines() if x.strip()]
        return lines if len(lines) == n else None
    if ct == "application/json":
        value = json.loads(body)
        if isinstance(value, dict) and len(value) == 1:
            value = next(iter(value.values()))
        if isinstance(value, list) and len(value) == n:
            return [v[0] if isinstance(v, list) and len(v) == 1 else v for v in value]
    return None


def join(input_value: Any, output: Any, content_type: str) -> Any:
    if content_type == "text/csv":
        row = input_value if isinstance(input_value, list) else [input_value]
        out = output if isinstance(output, list) else [output]
        return [*row, *out]
    if isinstance(input_value, dict):
        return {**input_value, "SageMakerOutput": output}
    return {"SageMakerInput": input_value, "SageMakerOutput": output}
