"""Choice rules: ``{"Variable": "$.x", "NumericGreaterThan": 3, "Next": ...}``, combined with
``And`` / ``Or`` / ``Not``. Rules are tried in order and the first that matches wins; a value of
another type than the operator's never matches (no coercion); a Variable that selects nothing is a
runtime error, except for ``IsPresent``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from mlyard.workflow import paths
from mlyard.workflow.errors import NO_CHOICE_MATCHED, RUNTIME, StatesError

__all__ = ["choose", "matches", "OPERATORS", "rule_operator"]

_COMPARISONS = ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
_TYPED = ("String", "Numeric", "Timestamp")
OPERATORS = frozenset(
    [f"{t}{c}" for t in _TYPED for c in _COMPARISONS]
    + [f"{t}{c}Path" for t in _TYPED for c in _COMPARISONS]
    + ["BooleanEquals", "BooleanEqualsPath", "StringMatches", "IsNull", "IsPresent", "IsNumeric", "IsString",
       "IsBoolean", "IsTimestamp"])


def rule_operator(rule: dict[str, Any]) -> list[str]:
    """The comparison operators a (non-combining) rule names."""
    return [k for k in rule if k in OPERATORS]


def choose(state: dict[str, Any], data: Any, context: Any) -> str:
    """The name of the state a Choice goes to next."""
    for rule in state.get("Choices") or []:
        if matches(rule, data, context):
            return str(rule["Next"])
    if "Default" in state:
        return str(state["Default"])
    raise StatesError(NO_CHOICE_MATCHED, f"no Choice rule matched the input {paths.short(data)} and the state has "
                                         "no Default")


def matches(rule: dict[str, Any], data: Any, context: Any) -> bool:
    if "And" in rule:
        return all(matches(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(matches(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data, context)
    (operator,) = rule_operator(rule)
    variable = str(rule.get("Variable", "$"))
    value = paths.read(variable, data, context)
    if operator == "IsPresent":
        return (value is not paths.MISSING) == bool(rule[operator])
    if value is paths.MISSING:
        raise StatesError(RUNTIME, f"invalid path {variable!r}: the Choice rule's Variable selects nothing in "
                                   f"{paths.short(data)}")
    expected = rule[operator]
    if operator.endswith("Path"):
        operator = operator[:-4]
        expected = paths.read(str(expected), data, context)
        if expected is paths.MISSING:
            raise StatesError(RUNTIME, f"invalid path {rule[operator + 'Path']!r}: it selects nothing in "
                                       f"{paths.short(data)}")
    return _test(operator, value, expected)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def timestamp(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp (``2026-01-02T03:04:05Z``, with a ``T`` and a zone), else None."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


def _test(operator: str, value: Any, expected: Any) -> bool:
    if operator == "IsNull":
        return (value is None) == bool(expected)
    if operator == "IsNumeric":
        return _is_number(value) == bool(expected)
    if operator == "IsString":
        return isinstance(value, str) == bool(expected)
    if operator == "IsBoolean":
        return isinstance(value, bool) == bool(expected)
    if operator == "IsTimestamp":
        return (timestamp(value) is not None) == bool(expected)
    if operator == "BooleanEquals":
        return isinstance(value, bool) and isinstance(expected, bool) and value == expected
    if operator == "StringMatches":
        return isinstance(value, str) and isinstance(expected, str) and _wildcard(expected).fullmatch(value) is not None
    kind, comparison = next((t, operator[len(t):]) for t in _TYPED if operator.startswith(t))
    a: Any
    b: Any
    if kind == "String":
        if not (isinstance(value, str) and isinstance(expected, str)):
            return False
        a, b = value, expected
    elif kind == "Numeric":
        if not (_is_number(value) and _is_number(expected)):
            return False
        a, b = value, expected
    else:
        ta, tb = timestamp(value), timestamp(expected)
        if ta is None or tb is None:
            return False
        a, b = ta, tb
    return {"Equals": a == b, "LessThan": a < b, "GreaterThan": a > b, "LessThanEquals": a <= b,
            "GreaterThanEquals": a >= b}[comparison]


def _wildcard(pattern: str) -> re.Pattern[str]:
    """StringMatches: ``*`` matches any run of characters; ``\\*`` and ``\\\\`` are literal."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)
