"""Metric definitions applied to log lines, the way Keras writes them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["LineSplitter", "MetricParser", "compile_definitions"]

_BREAKS = re.compile(r"[\r\n]")


class LineSplitter:
    """Turns a byte stream into lines, breaking at ``\\n`` and ``\\r`` (Keras progress bars rewrite
    one terminal line with ``\\r`` and ``\\b``) and dropping backspaces."""

    def __init__(self) -> None:
        self._rest = ""

    def feed(self, text: str) -> Iterator[str]:
        parts = _BREAKS.split(self._rest + text)
        self._rest = parts.pop()
        for part in parts:
            line = part.replace("\b", "")
            if line:
                yield line

    def flush(self) -> Iterator[str]:
        rest, self._rest = self._rest.replace("\b", ""), ""
        if rest:
            yield rest


@dataclass(frozen=True)
class _Definition:
    name: str
    regex: re.Pattern[str]


def compile_definitions(defs: list[dict[str, str]]) -> list[_Definition]:
    """Compile ``[{"Name": ..., "Regex": ...}]``; raises ``re.error`` for a bad regex."""
    return [_Definition(d["Name"], re.compile(d["Regex"])) for d in defs]


class MetricParser:
    def __init__(self, defs: list[dict[str, str]]) -> None:
        self._defs = compile_definitions(defs)

    def __bool__(self) -> bool:
        return bool(self._defs)

    def parse(self, line: str) -> Iterator[tuple[str, float]]:
        """Each (metric, value) the line carries: the first capture group of each match."""
        for d in self._defs:
            for match in d.regex.finditer(line):
                text = match.group(1) if match.groups() else match.group(0)
                try:
                    value = float(text)
                except (TypeError, ValueError):
                    continue
                if value == value:  # NaN is not a measurement
                    yield d.name, value
