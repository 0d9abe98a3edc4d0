"""Serializers: Python data -> request bodies (SageMaker's ``sagemaker.serializers``)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

__all__ = ["BaseSerializer", "JSONSerializer", "CSVSerializer", "NumpySerializer", "JSONLinesSerializer",
           "IdentitySerializer", "StringSerializer"]


class BaseSerializer:
    CONTENT_TYPE = "application/octet-stream"

    @property
    def content_type(self) -> str:
        return self.CONTENT_TYPE

    def serialize(self, data: Any) -> bytes | str:
        raise NotImplementedError


def _plain(data: Any) -> Any:
    if isinstance(data, np.ndarray):
        return data.tolist()
    if hasattr(data, "to_numpy"):  # pandas
        return data.to_numpy().tolist()
    return data


class JSONSerializer(BaseSerializer):
    CONTENT_TYPE = "application/json"

    def __init__(self, content_type: str = "application/json") -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes | str:
        if isinstance(data, (bytes, str)):
            return data
        return json.dumps(_plain(data))


class JSONLinesSerializer(BaseSerializer):
    CONTENT_TYPE = "application/jsonlines"

    def __init__(self, content_type: str = "application/jsonlines") -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes | str:
        if isinstance(data, (bytes, str)):
            return data
        return "".join(json.dumps(row) + "\n" for row in _plain(data))


class CSVSerializer(BaseSerializer):
    CONTENT_TYPE = "text/csv"

    def __init__(self, content_type: str = "text/csv") -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes | str:
        if isinstance(data, (bytes, str)):
            return data
        rows = _plain(data)
        if rows and not isinstance(rows[0], (list, tuple)):
            rows = [rows]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue()


class NumpySerializer(BaseSerializer):
    CONTENT_TYPE = "application/x-npy"

    def __init__(self, dtype: Any = None, content_type: str = "application/x-npy") -> None:
        self.dtype = dtype
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes | str:
        buf = io.BytesIO()
        np.save(buf, np.asarray(data, dtype=self.dtype), allow_pickle=False)
        return buf.getvalue()


class IdentitySerializer(BaseSerializer):
    def __init__(self, content_type: str = "application/octet-stream") -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes | str:
        return bytes(data) if isinstance(data, (bytes, bytearray)) else str(data)


class StringSerializer(BaseSerializer):
    """Text as is (anything else through ``str``)."""

    def __init__(self, content_type: str = "text/plain") -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes | str:
        return data if isinstance(data, (bytes, str)) else str(data)
