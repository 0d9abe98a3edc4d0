"""Deserializers: response bodies -> Python data (SageMaker's ``sagemaker.deserializers``)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

__all__ = ["BaseDeserializer", "JSONDeserializer", "CSVDeserializer", "NumpyDeserializer", "StringDeserializer",
           "BytesDeserializer", "JSONLinesDeserializer"]


class BaseDeserializer:
    ACCEPT: tuple[str, ...] = ("*/*",)

    @property
    def accept(self) -> tuple[str, ...]:
        return self.ACCEPT

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        raise NotImplementedError


class JSONDeserializer(BaseDeserializer):
    ACCEPT = ("application/json",)

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return json.loads(stream)


class JSONLinesDeserializer(BaseDeserializer):
    ACCEPT = ("application/jsonlines",)

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return [json.loads(line) for line in stream.splitlines() if line.strip()]


class CSVDeserializer(BaseDeserializer):
    ACCEPT = ("text/csv",)

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return list(csv.reader(io.StringIO(stream.decode(self.encoding))))


class NumpyDeserializer(BaseDeserializer):
    ACCEPT = ("application/x-npy",)

    def __init__(self, dtype: Any = None, allow_pickle: bool = False) -> None:
        self.dtype = dtype

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        ct = content_type.split(";")[0].strip()
        if ct == "application/json":
            return np.array(json.loads(stream), dtype=self.dtype)
        if ct == "text/csv":
            return np.genfromtxt(io.StringIO(stream.decode()), delimiter=",", dtype=self.dtype)
        return np.load(io.BytesIO(stream), allow_pickle=False)  # never unpickle what a server sent


class StringDeserializer(BaseDeserializer):
    ACCEPT = ("application/json",)

    def __init__(self, encoding: str = "UTF-8", accept: str = "application/json") -> None:
        self.encoding = encoding
        self.ACCEPT = (accept,)

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return stream.decode(self.encoding)


class BytesDeserializer(BaseDeserializer):
    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return stream
