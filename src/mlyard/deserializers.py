"""Deserializers: response bodies -> Python data (SageMaker's ``sagemaker.deserializers``)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

__all__ = ["BaseDeserializer", "JSONDeserializer", "CSVDeserializer", "NumpyDeserializer", "StringDeserializer",
           "BytesDeserializer", "JSONLinesDeserializer", "StreamDeserializer", "PandasDeserializer"]


class BaseDeserializer:
    """``accept`` (SageMaker's argument: a MIME type or a tuple of them) is what the predictor
    asks the endpoint for."""

    ACCEPT: tuple[str, ...] = ("*/*",)

    def __init__(self, accept: str | tuple[str, ...] | list[str] | None = None) -> None:
        if accept is not None:
            self.ACCEPT = (accept,) if isinstance(accept, str) else tuple(accept)

    @property
    def accept(self) -> tuple[str, ...]:
        return self.ACCEPT

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        raise NotImplementedError


class JSONDeserializer(BaseDeserializer):
    ACCEPT = ("application/json",)

    def __init__(self, accept: str | tuple[str, ...] = "application/json") -> None:
        super().__init__(accept)

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return json.loads(stream)


class JSONLinesDeserializer(BaseDeserializer):
    ACCEPT = ("application/jsonlines",)

    def __init__(self, accept: str | tuple[str, ...] = ("application/jsonlines",)) -> None:
        super().__init__(accept)

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return [json.loads(line) for line in stream.splitlines() if line.strip()]


class CSVDeserializer(BaseDeserializer):
    ACCEPT = ("text/csv",)

    def __init__(self, encoding: str = "utf-8", accept: str | tuple[str, ...] = "text/csv") -> None:
        super().__init__(accept)
        self.encoding = encoding

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return list(csv.reader(io.StringIO(stream.decode(self.encoding))))


class NumpyDeserializer(BaseDeserializer):
    ACCEPT = ("application/x-npy",)

    def __init__(self, dtype: Any = None, accept: str | tuple[str, ...] = "application/x-npy",
                 allow_pickle: bool = False) -> None:
        super().__init__(accept)
        self.dtype = dtype
        if allow_pickle:
            from mlyard.compat import warn

            warn("NumpyDeserializer: allow_pickle=True is accepted but not applied by mlyard: unpickling what an "
                 "endpoint sends can run any code, so object arrays are refused")

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        ct = content_type.split(";")[0].strip()
        if ct == "application/json":
            return np.array(json.loads(stream), dtype=self.dtype)
        if ct == "text/csv":
            return np.genfromtxt(io.StringIO(stream.decode()), delimiter=",", dtype=self.dtype)
        return np.load(io.BytesIO(stream), allow_pickle=False)  # never unpickle what a server sent


class StringDeserializer(BaseDeserializer):
    ACCEPT = ("application/json",)

    def __init__(self, encoding: str = "UTF-8", accept: str | tuple[str, ...] = "application/json") -> None:
        super().__init__(accept)
        self.encoding = encoding

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return stream.decode(self.encoding)


class BytesDeserializer(BaseDeserializer):
    def __init__(self, accept: str | tuple[str, ...] = "*/*") -> None:
        super().__init__(accept)

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return stream


class StreamDeserializer(BaseDeserializer):
    """The body as a stream and its content type (SageMaker's ``(stream, content_type)`` pair)."""

    def __init__(self, accept: str | tuple[str, ...] = "*/*") -> None:
        super().__init__(accept)

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        return io.BytesIO(stream), content_type


class PandasDeserializer(BaseDeserializer):
    """CSV or JSON bodies as a pandas DataFrame."""

    def __init__(self, accept: str | tuple[str, ...] = ("text/csv", "application/json")) -> None:
        super().__init__(accept)

    def deserialize(self, stream: bytes, content_type: str) -> Any:
        import pandas as pd

        if content_type.split(";")[0].strip() == "text/csv":
            return pd.read_csv(io.BytesIO(stream))
        return pd.DataFrame(json.loads(stream))
