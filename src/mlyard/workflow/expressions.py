"""A SageMaker pipeline's expressions, evaluated when a step runs: ``{"Get": "Parameters.X"}``,
``{"Get": "Execution.PipelineExecutionId"}``, ``{"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}``
(a step's description by path; ``Outputs['train']`` picks a list's item by its name),
``{"Std:Join": ...}`` and ``{"Std:JsonGet": ...}`` (a value of a JSON file, read by the ``read``
callable the caller gives), and a condition step's conditions. Pure: the scope (parameters,
execution facts, the outputs of the steps it depends on) is given, so a replay evaluates alike.

Bad references raise ``ExpressionError`` naming the field (``Arguments.InputDataConfig[0]...``);
the step running it names itself."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["ExpressionError", "resolve", "evaluate_conditions", "get_path", "json_path"]


class ExpressionError(Exception):
    pass


_SEGMENT = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def _segments(path: str) -> list[Any]:
    """``A.B[0]['x']`` as ["A", "B", 0, ("name", "x")]."""
    out: list[Any] = []
    text = path if path.startswith(("[", ".")) else "." + path
    pos = 0
    while pos < len(text):
        m = _SEGMENT.match(text, pos)
        if not m:
            raise ExpressionError(f"the path {path!r} cannot be read at {text[pos:]!r}")
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(int(m.group(2)))
        else:
            out.append(("name", m.group(3) if m.group(3) is not None else m.group(4)))
        pos = m.end()
    return out


def _named(items: list[Any], name: str) -> Any:
    """The item of a description's list whose name field (``OutputName``, ``ChannelName``, ...) is
    ``name``."""
    for item in items:
        if isinstance(item, dict) and any(k.endswith("Name") and v == name for k, v in item.items()):
            return item
    return None


def get_path(value: Any, path: str, what: str) -> Any:
    """The value at ``path`` in ``value`` (``what`` names it in errors)."""
    current = value
    walked = ""
    for seg in _segments(path):
        if isinstance(seg, str):
            if not isinstance(current, dict) or seg not in current:
                raise ExpressionError(f"{what} has no {(walked + '.' + seg).lstrip('.')}"
                                      + (f" (it has {', '.join(sorted(current)[:12])})" if isinstance(current, dict)
                                         and current else ""))
            current = current[seg]
            walked += "." + seg
        elif isinstance(seg, int):
            if not isinstance(current, list) or seg >= len(current):
                raise ExpressionError(f"{what}: {walked.lstrip('.')} has no item {seg}")
            current = current[seg]
            walked += f"[{seg}]"
        else:
            found = _named(current, seg[1]) if isinstance(current, list) else (
                current.get(seg[1]) if isinstance(current, dict) else None)
            if found is None:
                raise ExpressionError(f"{what}: {walked.lstrip('.')} has no item named {seg[1]!r}")
            current = found
            walked += f"['{seg[1]}']"
    return current


def json_path(document: Any, path: str, what: str) -> Any:
    """JsonGet's path (``a.b[0].c``, or JSONPath's ``$.a.b``) in a JSON document."""
    text = path[2:] if path.startswith("$.") else path
    return get_path(document, text, what)


def resolve(value: Any, scope: dict[str, Any], read: Callable[[str], bytes], where: str = "Arguments") -> Any:
    """``value`` with every expression replaced by its value in ``scope`` (``Parameters``,
    ``Execution``, ``Steps``, ``PropertyFiles``: step -> name -> file URI)."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("Get"), str):
            return _get(value["Get"], scope, where)
        if len(value) == 1 and "Std:Join" in value:
            join = value["Std:Join"]
            if not isinstance(join, dict) or not isinstance(join.get("Values"), list):
                raise ExpressionError(f"{where}: Std:Join needs On and a list of Values")
            parts = [resolve(v, scope, read, f"{where}.Std:Join.Values[{i}]") for i, v in enumerate(join["Values"])]
            return str(join.get("On") or "").join(_text(p) for p in parts)
        if len(value) == 1 and "Std:JsonGet" in value:
            return _json_get(value["Std:JsonGet"], scope, read, where)
        return {k: resolve(v, scope, read, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, scope, read, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


def _get(path: str, scope: dict[str, Any], where: str) -> Any:
    head, _, rest = path.partition(".")
    if head == "Parameters":
        params = scope.get("Parameters") or {}
        if rest not in params:
            raise ExpressionError(f"{where}: the pipeline has no parameter {rest!r}")
        return params[rest]
    if head == "Execution":
        facts = scope.get("Execution") or {}
        if rest not in facts:
            raise ExpressionError(f"{where}: {rest!r} is not an execution variable (there are "
                                  f"{', '.join(sorted(facts))})")
        return facts[rest]
    if head == "Steps":
        m = re.match(r"^([A-Za-z0-9_\-]+)(.*)$", rest)
        step, field = (m.group(1), m.group(2)) if m else (rest, "")
        steps = scope.get("Steps") or {}
        if step not in steps:
            raise ExpressionError(f"{where}: step {step!r} has no output here (it did not run before this step)")
        if not field:
            return steps[step]
        return get_path(steps[step], field, f"{where}: step {step!r}'s properties")
    raise ExpressionError(f"{where}: {{'Get': {path!r}}} refers to neither Parameters, Execution nor Steps")


def _json_get(spec: Any, scope: dict[str, Any], read: Callable[[str], bytes], where: str) -> Any:
    if not isinstance(spec, dict) or not isinstance(spec.get("Path"), str):
        raise ExpressionError(f"{where}: Std:JsonGet needs a Path and a PropertyFile or S3Uri")
    path = spec["Path"]
    if "S3Uri" in spec:
        uri = resolve(spec["S3Uri"], scope, read, f"{where}.Std:JsonGet.S3Uri")
        what = f"the JSON file {uri}"
    else:
        ref = spec.get("PropertyFile")
        get = ref.get("Get") if isinstance(ref, dict) else None
        m = re.match(r"^Steps\.([A-Za-z0-9_\-]+)\.PropertyFiles\.(.+)$", get or "")
        if not m:
            raise ExpressionError(f"{where}: Std:JsonGet's PropertyFile must be "
                                  "{'Get': 'Steps.<step>.PropertyFiles.<name>'}")
        step, name = m.groups()
        output = (scope.get("Steps") or {}).get(step)
        if output is None:
            raise ExpressionError(f"{where}: JsonGet reads a property file of step {step!r}, which did not run "
                                  "before this step")
        files = output.get("PropertyFiles") if isinstance(output, dict) else None
        if not isinstance(files, dict) or name not in files:
            raise ExpressionError(f"{where}: step {step!r} declares no property file {name!r} "
                                  "(give it in the ProcessingStep's property_files)")
        uri = files[name]
        what = f"property file {name!r} of step {step!r} ({uri})"
    try:
        raw = read(str(uri))
    except FileNotFoundError:
        raise ExpressionError(f"{where}: JsonGet: {what} does not exist; the step did not write it") from None
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise ExpressionError(f"{where}: JsonGet: {what} is not JSON: {exc}") from None
    return json_path(document, path, f"{where}: JsonGet: {what}")


# -- conditions -------------------------------------------------------------------------------------
def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null" if value is None else type(value).__name__


def _compare(kind: str, left: Any, right: Any, where: str) -> bool:
    if kind == "Equals":
        if _kind(left) != _kind(right):
            raise ExpressionError(f"{where}: Equals compares {left!r} (a {_kind(left)}) with {right!r} "
                                  f"(a {_kind(right)}); give both sides the same type")
        return bool(left == right)
    if _kind(left) != _kind(right) or _kind(left) not in ("number", "string"):
        raise ExpressionError(f"{where}: {kind} compares {left!r} (a {_kind(left)}) with {right!r} (a {_kind(right)}); "
                              "both sides must be numbers, or both strings")
    return bool({"GreaterThan": left > right, "GreaterThanOrEqualTo": left >= right,
                 "LessThan": left < right, "LessThanOrEqualTo": left <= right}[kind])


def evaluate_conditions(conditions: list[Any], where: str = "Arguments.Conditions") -> bool:
    """Whether all (already resolved) conditions hold."""
    return all(_condition(c, f"{where}[{i}]") for i, c in enumerate(conditions))


def _condition(cond: Any, where: str) -> bool:
    if not isinstance(cond, dict) or not isinstance(cond.get("Type"), str):
        raise ExpressionError(f"{where}: a condition is an object with a Type")
    kind = cond["Type"]
    if kind in ("Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo"):
        return _compare(kind, cond.get("LeftValue"), cond.get("RightValue"), where)
    if kind == "In":
        query = cond.get("QueryValue")
        values = cond.get("Values") or []
        if not isinstance(values, list):
            raise ExpressionError(f"{where}: In needs Values, a list")
        for v in values:
            if _kind(v) != _kind(query):
                raise ExpressionError(f"{where}: In compares {query!r} (a {_kind(query)}) with {v!r} (a {_kind(v)})")
        return query in values
    if kind == "Not":
        return not _condition(cond.get("Expression"), f"{where}.Expression")
    if kind == "Or":
        inner = cond.get("Conditions") or []
        if not isinstance(inner, list):
            raise ExpressionError(f"{where}: Or needs Conditions, a list")
        return any(_condition(c, f"{where}.Conditions[{i}]") for i, c in enumerate(inner))
    raise ExpressionError(f"{where}: unknown condition type {kind!r}")
