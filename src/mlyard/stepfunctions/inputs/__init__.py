"""Placeholders: values a workflow's states read when they run, from the execution's input
(``ExecutionInput``: ``$$.Execution.Input['a']``) or the state's input (``StepInput``: ``$['a']``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Placeholder", "ExecutionInput", "StepInput", "ValidationResult"]

_TYPES = (str, int, float, bool, list, dict)


@dataclass
class ValidationResult:
    valid: bool
    keys_missing: list[str] = field(default_factory=list)
    keys_type_mismatch: list[tuple[str, Any, type]] = field(default_factory=list)


class Placeholder:
    """A value known when the workflow runs. ``p["a"]["b"]`` (or ``p.get("a", str)``) names a
    child; with a ``schema`` (``{"a": str, "b": {"c": int}}``) only its keys may be named."""

    prefix = "$"

    def __init__(self, schema: dict[str, Any] | None = None, *, name: str | None = None,
                 type: type | None = None, parent: Placeholder | None = None) -> None:  # noqa: A002
        self.name = name
        self.type = type
        self.parent = parent
        self.store: dict[str, Placeholder] = {}
        self.immutable = False
        self.schema = schema
        if schema is not None:
            self._set_schema(schema)
            self.immutable = True

    def _set_schema(self, schema: dict[str, Any]) -> None:
        for key, value in schema.items():
            if isinstance(value, dict):
                child = self._child(key, None)
                child._set_schema(value)
                child.immutable = True
            elif value in _TYPES:
                self._child(key, value)
            else:
                raise ValueError(f"schema key {key!r}: {value!r} is not one of str, int, float, bool, list, dict "
                                 "or a nested schema")

    def _child(self, name: str, kind: type | None) -> Placeholder:
        child = type(self)(name=name, type=kind, parent=self)
        self.store[name] = child
        return child

    def get(self, name: str, type: type | None = None) -> Placeholder:  # noqa: A002
        if name in self.store:
            existing = self.store[name]
            if type is not None and existing.type is not None and existing.type is not type:
                raise ValueError(f"{name!r} is a {existing.type.__name__}, not a {type.__name__}")
            return existing
        if self.immutable:
            raise ValueError(f"{name!r} is not in the schema ({', '.join(self.store) or 'no keys'})")
        return self._child(name, type)

    def __getitem__(self, name: str) -> Placeholder:
        return self.get(name)

    def contains(self, other: Placeholder) -> bool:
        return other in self.store.values() or any(c.contains(other) for c in self.store.values())

    def _path(self) -> list[str]:
        node: Placeholder | None = self
        out = []
        while node is not None and node.name is not None:
            out.append(node.name)
            node = node.parent
        return out[::-1]

    def to_jsonpath(self) -> str:
        return self.prefix + "".join(f"['{part}']" for part in self._path())

    def get_schema_as_dict(self) -> dict[str, Any]:
        return {name: (child.get_schema_as_dict() if child.store else child.type)
                for name, child in self.store.items()}

    def get_schema_as_json(self, pretty: bool = False) -> str:
        def encode(schema: dict[str, Any]) -> dict[str, Any]:
            return {k: encode(v) if isinstance(v, dict) else (v.__name__ if v else None) for k, v in schema.items()}

        return json.dumps(encode(self.get_schema_as_dict()), indent=4 if pretty else None)

    def validate(self, data: Any) -> ValidationResult:
        """Whether ``data`` has every key of the schema, each of its type."""
        result = ValidationResult(True)

        def walk(node: Placeholder, value: Any, prefix: str) -> None:
            for name, child in node.store.items():
                path = f"{prefix}{name}"
                if not isinstance(value, dict) or name not in value:
                    result.keys_missing.append(path)
                    continue
                if child.store:
                    walk(child, value[name], path + ".")
                elif child.type is not None and not _is(value[name], child.type):
                    result.keys_type_mismatch.append((path, value[name], child.type))

        walk(self, data, "")
        result.valid = not result.keys_missing and not result.keys_type_mismatch
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_jsonpath()!r})"


def _is(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


class ExecutionInput(Placeholder):
    """The execution's input: ``$$.Execution.Input[...]``."""

    prefix = "$$.Execution.Input"


class StepInput(Placeholder):
    """The state's input (the previous state's output): ``$[...]``."""

    prefix = "$"
