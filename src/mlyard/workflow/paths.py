"""JSONPath as the Amazon States Language uses it.

A path starts at ``$`` (the state's data) or ``$$`` (the context object). A *reference path*
names one node (``$.a.b``, ``$['a b'][0]``): reading it gives that node, and ResultPath and
ItemsPath must be one. Any other path (``$.a[*].b``, ``$..x``, ``$.a[?(@.x > 1)]``, slices,
unions) gives the list of what it selects, possibly empty. Parsing is jsonpath-ng's; each path is
parsed once.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from mlyard.workflow.errors import StatesError

__all__ = ["PathError", "parse", "is_path", "is_reference", "read", "put", "MISSING", "short"]


class PathError(ValueError):
    """A path that does not parse, or is not the kind a field needs."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def is_path(text: Any) -> bool:
    return isinstance(text, str) and text.startswith("$")


@functools.lru_cache(maxsize=4096)
def parse(path: str) -> tuple[bool, Any, tuple[Any, ...] | None]:
    """(on the context object, parsed expression, steps of a reference path or None)."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise PathError(f"{path!r} is not a path: a path starts with '$' (the state's data) or '$$' (the context)")
    context = path.startswith("$$")
    text = path[1:] if context else path
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext import parse as jp_parse

    try:
        expr = jp_parse(text)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # the parser raises plain Exceptions too
        raise PathError(f"{path!r} is not a valid JSONPath: {exc}") from None
    return context, expr, _steps(expr)


def _steps(expr: Any) -> tuple[Any, ...] | None:
    """The field names and indexes of a reference path, root first; None if it is not one."""
    from jsonpath_ng import Child, Fields, Index, Root

    if isinstance(expr, Root):
        return ()
    if isinstance(expr, Child):
        left = _steps(expr.left)
        if left is None:
            return None
        right = expr.right
        if isinstance(right, Fields) and len(right.fields) == 1 and right.fields[0] != "*":
            return (*left, str(right.fields[0]))
        if isinstance(right, Index):
            indices = getattr(right, "indices", None) or (getattr(right, "index", None),)  # (older jsonpath-ng)
            if len(indices) == 1 and indices[0] is not None:
                return (*left, int(indices[0]))
    return None


def is_reference(path: str) -> bool:
    return parse(path)[2] is not None


def read(path: str, data: Any, context: Any = None) -> Any:
    """What ``path`` selects: the node of a reference path (``MISSING`` if there is none), or the
    list of nodes any other path selects."""
    on_context, expr, steps = parse(path)
    target = context if on_context else data
    if steps is not None:
        node = target
        for step in steps:
            if isinstance(step, int):
                if not isinstance(node, list) or not -len(node) <= step < len(node):
                    return MISSING
                node = node[step]
            else:
                if not isinstance(node, dict) or step not in node:
                    return MISSING
                node = node[step]
        return node
    return [m.value for m in expr.find(target)]


def put(path: str, data: Any, value: Any, error: str) -> Any:
    """A copy of ``data`` with ``value`` at the reference path ``path`` (the objects on the way
    made as needed), as ResultPath places a result; ``error`` is raised (a StatesError) when the
    data does not have that shape."""
    on_context, _, steps = parse(path)
    if on_context or steps is None:
        raise StatesError(error, f"{path!r} is not a reference path into the state's data")
    if not steps:
        return value
    root = copy.deepcopy(data) if data is not None else {}
    if not isinstance(root, (dict, list)):
        raise StatesError(error, f"unable to apply ResultPath {path!r} to input {short(data)}: it is not an object")
    node = root
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                raise StatesError(error, f"unable to apply ResultPath {path!r} to input {short(data)}: "
                                         f"no array item {step} there")
            if last:
                node[step] = value
            else:
                node = node[step]
            continue
        if not isinstance(node, dict):
            raise StatesError(error, f"unable to apply ResultPath {path!r} to input {short(data)}: "
                                     f"the value before {step!r} is not an object")
        if last:
            node[step] = value
        else:
            if step not in node or node[step] is None:
                node[step] = {}
            node = node[step]
    return root


def short(value: Any) -> str:
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:200] + "..."
