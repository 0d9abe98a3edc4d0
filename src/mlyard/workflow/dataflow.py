"""How data flows through a state (JSONPath mode), in the States Language's order: InputPath
selects from the state's input, Parameters builds the task's input, the task (or Pass's Result)
gives a result, ResultSelector reshapes it, ResultPath places it into the state's input, and
OutputPath selects the state's output.

Templates (Parameters, ResultSelector, ItemSelector) copy their values, except under keys that
end in ``.$``: those values are paths (``$.x``, ``$$.Execution.Id``) or intrinsic calls
(``States.Format(...)``), replaced by what they give, and the key loses its ``.$``.
"""

from __future__ import annotations

from typing import Any

from mlyard.workflow import intrinsics, paths
from mlyard.workflow.errors import (
    PARAMETER_PATH_FAILURE,
    RESULT_PATH_MATCH_FAILURE,
    RUNTIME,
    StatesError,
)

__all__ = ["input_path", "template", "result_path", "output_path", "field_path"]

ROOT = "$"


def field_path(state: dict[str, Any], field: str) -> str | None:
    """A path field of a state: its value, ``$`` when absent, None when it is JSON null."""
    path: str | None = state.get(field, ROOT)  # absent: $; JSON null: None
    return path


def _select(path: str | None, data: Any, context: Any, field: str) -> Any:
    if path is None:
        return {}
    if path == ROOT:
        return data
    value = paths.read(path, data, context)
    if value is paths.MISSING:
        raise StatesError(RUNTIME, f"invalid path {path!r} in {field}: the path selects nothing in "
                                   f"{paths.short(context if path.startswith('$$') else data)}")
    return value


def input_path(state: dict[str, Any], data: Any, context: Any) -> Any:
    return _select(field_path(state, "InputPath"), data, context, "InputPath")


def output_path(state: dict[str, Any], data: Any, context: Any) -> Any:
    return _select(field_path(state, "OutputPath"), data, context, "OutputPath")


def template(value: Any, data: Any, context: Any, field: str = "Parameters") -> Any:
    """Evaluate a Parameters / ResultSelector / ItemSelector template against ``data``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key.endswith(".$"):
                out[key[:-2]] = _dynamic(item, data, context, field, key)
            else:
                out[key] = template(item, data, context, field)
        return out
    if isinstance(value, list):
        return [template(item, data, context, field) for item in value]
    return value


def _dynamic(expression: Any, data: Any, context: Any, field: str, key: str) -> Any:
    if intrinsics.is_call(expression):
        return intrinsics.evaluate(intrinsics.parse(expression), data, context)
    if not paths.is_path(expression):
        raise StatesError(PARAMETER_PATH_FAILURE, f"the value of {key!r} in {field} is not a path or an intrinsic "
                                                  f"function: {expression!r}")
    value = paths.read(expression, data, context)
    if value is paths.MISSING:
        raise StatesError(PARAMETER_PATH_FAILURE,
                          f"the JSONPath {expression!r} specified for the field {key!r} in {field} could not be "
                          f"found in the input {paths.short(context if expression.startswith('$$') else data)}")
    return value


def result_path(state: dict[str, Any], data: Any, result: Any, field: str = "ResultPath") -> Any:
    """The state's input with the result placed by ResultPath (``$``: the result replaces it;
    null: the result is discarded)."""
    path = field_path(state, field)
    if path is None:
        return data
    if path == ROOT:
        return result
    return paths.put(path, data, result, RESULT_PATH_MATCH_FAILURE)
