"""Checks of a state machine definition (Amazon States Language, JSONPath mode), before it is
created: every problem found, each named by its state, as Step Functions' validation lists them.
``problems(definition)`` returns them; ``check(definition)`` raises ``ValidationError`` with all.
"""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow import choice, intrinsics, paths
from mlyard.workflow.errors import ALL

__all__ = ["problems", "check", "STATE_TYPES", "MAX_NAME"]

MAX_NAME = 80
STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
_COMMON = {"Type", "Comment", "QueryLanguage"}
_FIELDS: dict[str, set[str]] = {
    "Pass": {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultPath", "Result", "Assign"},
    "Task": {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Resource",
             "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Retry", "Catch",
             "Credentials", "Assign"},
    "Choice": {"InputPath", "OutputPath", "Choices", "Default", "Assign"},
    "Wait": {"Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath",
             "Assign"},
    "Succeed": {"InputPath", "OutputPath"},
    "Fail": {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Branches",
                 "Retry", "Catch", "Assign"},
    "Map": {"Next", "End", "InputPath", "OutputPath", "Parameters", "ItemSelector", "ResultSelector", "ResultPath",
            "ItemsPath", "Iterator", "ItemProcessor", "MaxConcurrency", "MaxConcurrencyPath", "Retry", "Catch",
            "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "ToleratedFailureCount",
            "ToleratedFailureCountPath", "ItemReader", "ItemBatcher", "ResultWriter", "Label", "Assign"},
}
_RETRIER = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy",
            "Comment"}
_CATCHER = {"ErrorEquals", "Next", "ResultPath", "Comment", "Assign", "Output"}
_MAX_SECONDS = 99999999


def check(definition: Any) -> None:
    found = problems(definition)
    if found:
        raise ValidationError("the state machine definition is not valid (" + str(len(found)) + " problem"
                              + ("s" if len(found) > 1 else "") + "): " + "; ".join(found))


def problems(definition: Any) -> list[str]:
    out: list[str] = []
    if not isinstance(definition, dict):
        return ["the definition must be a JSON object with StartAt and States"]
    if definition.get("QueryLanguage", "JSONPath") != "JSONPath":
        out.append(f"QueryLanguage {definition.get('QueryLanguage')!r} is not supported: use JSONPath (the default)")
    if "Version" in definition and definition["Version"] != "1.0":
        out.append(f"Version {definition['Version']!r}: the only version is \"1.0\"")
    if "TimeoutSeconds" in definition and not _positive_int(definition["TimeoutSeconds"]):
        out.append("TimeoutSeconds must be a positive integer")
    unknown = set(definition) - {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
    if unknown:
        out.append(f"unknown top-level field(s) {', '.join(sorted(unknown))}")
    _machine(definition, "", out, set())
    return out


def _machine(machine: dict[str, Any], where: str, out: list[str], seen: set[str]) -> None:
    states = machine.get("States")
    start = machine.get("StartAt")
    if not isinstance(states, dict) or not states:
        out.append(f"{where}States must be a non-empty object of states")
        return
    if not isinstance(start, str):
        out.append(f"{where}StartAt must name the first state")
    elif start not in states:
        out.append(f"{where}StartAt {start!r} names no state")
    for name, state in states.items():
        if name in seen:
            out.append(f"State {name!r}: the name is used twice (state names are unique in a state machine)")
        seen.add(name)
        if len(name) > MAX_NAME:
            out.append(f"State {name[:40]!r}...: the name is longer than {MAX_NAME} characters")
        if not isinstance(state, dict):
            out.append(f"State {name!r}: must be an object")
            continue
        _state(name, state, states, out, seen)
    if isinstance(start, str) and start in states:
        unreachable = sorted(set(states) - _reachable(start, states))
        for name in unreachable:
            out.append(f"State {name!r}: is not reachable from {where}StartAt {start!r}")


def _reachable(start: str, states: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in states or not isinstance(states[name], dict):
            continue
        seen.add(name)
        todo.extend(_targets(states[name]))
    return seen


def _targets(state: dict[str, Any]) -> list[str]:
    out = [state["Next"]] if isinstance(state.get("Next"), str) else []
    for rule in state.get("Choices") or []:
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            out.append(rule["Next"])
    if isinstance(state.get("Default"), str):
        out.append(state["Default"])
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            out.append(catcher["Next"])
    return out


def _state(name: str, state: dict[str, Any], states: dict[str, Any], out: list[str], seen: set[str]) -> None:
    def bad(message: str) -> None:
        out.append(f"State {name!r}: {message}")

    kind = state.get("Type")
    if kind not in STATE_TYPES:
        bad(f"Type {kind!r} is not a state type (one of {', '.join(STATE_TYPES)})")
        return
    if state.get("QueryLanguage", "JSONPath") != "JSONPath":
        bad("only the JSONPath query language is supported")
    unknown = set(state) - _FIELDS[kind] - _COMMON
    if unknown:
        bad(f"field(s) {', '.join(sorted(unknown))} are not allowed in a {kind} state")
    if kind in ("Pass", "Task", "Wait", "Parallel", "Map"):
        has_next, has_end = "Next" in state, state.get("End") is True
        if has_next == has_end:
            bad("needs either Next or \"End\": true" if not has_next else "has both Next and End")
        if has_next and not isinstance(state["Next"], str):
            bad("Next must be the name of a state")
        elif has_next and state["Next"] not in states:
            bad(f"Next {state['Next']!r} names no state" + (" of its branch" if state["Next"] in seen else ""))
    for field in ("InputPath", "OutputPath"):
        if field in state and state[field] is not None:
            _path(state[field], field, bad)
    if "ResultPath" in state and state["ResultPath"] is not None:
        _path(state["ResultPath"], "ResultPath", bad, reference=True)
    for field in ("Parameters", "ResultSelector", "ItemSelector"):
        if field in state:
            _template(state[field], field, bad)
    if kind == "Task":
        _task(state, bad)
    if kind in ("Task", "Parallel", "Map"):
        _retry(state.get("Retry"), bad)
        _catch(state.get("Catch"), states, bad)
    if kind == "Choice":
        _choice(state, states, bad)
    if kind == "Wait":
        _wait(state, bad)
    if kind == "Fail":
        for a, b in (("Error", "ErrorPath"), ("Cause", "CausePath")):
            if a in state and b in state:
                bad(f"has both {a} and {b}")
            if b in state and not intrinsics.is_call(state[b]):
                _path(state[b], b, bad)
            elif b in state:
                _intrinsic(state[b], b, bad)
    if kind == "Parallel":
        branches = state.get("Branches")
        if not isinstance(branches, list) or not branches:
            bad("Branches must be a non-empty array of {StartAt, States}")
        else:
            for i, branch in enumerate(branches):
                if not isinstance(branch, dict):
                    bad(f"branch {i} must be an object")
                    continue
                _machine(branch, f"State {name!r} branch {i}: ", out, seen)
    if kind == "Map":
        _map(name, state, bad, out, seen)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_SECONDS


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _path(value: Any, field: str, bad: Any, reference: bool = False) -> None:
    try:
        if not isinstance(value, str):
            raise paths.PathError(f"{value!r} is not a string")
        on_context, _, steps = paths.parse(value)
    except paths.PathError as exc:
        bad(f"{field}: {exc}")
        return
    if reference and (steps is None or on_context):
        bad(f"{field} {value!r} must be a reference path (one node of the state's data, like $.a.b or $.a[0])")


def _intrinsic(value: str, field: str, bad: Any) -> None:
    try:
        intrinsics.parse(value)
    except intrinsics.IntrinsicSyntaxError as exc:
        bad(f"{field}: {exc}")


def _template(value: Any, field: str, bad: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$"):
                if intrinsics.is_call(item):
                    _intrinsic(item, f"{field} {key!r}", bad)
                elif paths.is_path(item):
                    _path(item, f"{field} {key!r}", bad)
                else:
                    bad(f"{field} {key!r}: a key ending in '.$' needs a path or an intrinsic function, not {item!r}")
            else:
                _template(item, field, bad)
    elif isinstance(value, list):
        for item in value:
            _template(item, field, bad)


def _task(state: dict[str, Any], bad: Any) -> None:
    if not isinstance(state.get("Resource"), str) or not state["Resource"]:
        bad("Resource must name what the task runs (e.g. arn:aws:states:::sagemaker:createTrainingJob.sync)")
    for field in ("TimeoutSeconds", "HeartbeatSeconds"):
        if field in state and f"{field}Path" in state:
            bad(f"has both {field} and {field}Path")
        if field in state and not _positive_int(state[field]):
            bad(f"{field} must be a positive integer")
        if f"{field}Path" in state:
            _path(state[f"{field}Path"], f"{field}Path", bad, reference=True)
    timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
    if isinstance(timeout, int) and isinstance(heartbeat, int) and _positive_int(timeout) and heartbeat >= timeout:
        bad("HeartbeatSeconds must be smaller than TimeoutSeconds")


def _errors(value: Any, what: str, bad: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(e, str) for e in value):
        bad(f"{what} needs ErrorEquals, a non-empty array of error names")
        return []
    if ALL in value and len(value) > 1:
        bad(f"{what}: States.ALL must be alone in its ErrorEquals")
    return value


def _handlers(value: Any, field: str, allowed: set[str], bad: Any) -> list[tuple[str, dict[str, Any]]]:
    """The retriers or catchers of ``field`` that are objects, as (name, entry), after the checks
    both have: an array, known fields, ErrorEquals, States.ALL alone and in the last one."""
    if value is None:
        return []
    if not isinstance(value, list):
        bad(f"{field} must be an array")
        return []
    out = []
    for i, entry in enumerate(value):
        what = f"{field}[{i}]"
        if not isinstance(entry, dict):
            bad(f"{what} must be an object")
            continue
        unknown = set(entry) - allowed
        if unknown:
            bad(f"{what}: unknown field(s) {', '.join(sorted(unknown))}")
        if ALL in _errors(entry.get("ErrorEquals"), what, bad) and i != len(value) - 1:
            bad(f"{what}: States.ALL must be in the last {'retrier' if field == 'Retry' else 'catcher'}")
        out.append((what, entry))
    return out


def _retry(retriers: Any, bad: Any) -> None:
    for what, r in _handlers(retriers, "Retry", _RETRIER, bad):
        if "IntervalSeconds" in r and not _positive_int(r["IntervalSeconds"]):
            bad(f"{what}: IntervalSeconds must be a positive integer")
        if "MaxAttempts" in r and not (_non_negative_int(r["MaxAttempts"]) and r["MaxAttempts"] <= _MAX_SECONDS):
            bad(f"{what}: MaxAttempts must be an integer of 0 or more")
        if "BackoffRate" in r and not (isinstance(r["BackoffRate"], (int, float)) and not isinstance(
                r["BackoffRate"], bool) and r["BackoffRate"] >= 1.0):
            bad(f"{what}: BackoffRate must be a number of at least 1.0")
        if "MaxDelaySeconds" in r and not _positive_int(r["MaxDelaySeconds"]):
            bad(f"{what}: MaxDelaySeconds must be a positive integer")
        if "JitterStrategy" in r and r["JitterStrategy"] not in ("FULL", "NONE"):
            bad(f"{what}: JitterStrategy must be FULL or NONE")


def _catch(catchers: Any, states: dict[str, Any], bad: Any) -> None:
    for what, c in _handlers(catchers, "Catch", _CATCHER, bad):
        if not isinstance(c.get("Next"), str):
            bad(f"{what} needs Next")
        elif c["Next"] not in states:
            bad(f"{what}: Next {c['Next']!r} names no state")
        if "ResultPath" in c and c["ResultPath"] is not None:
            _path(c["ResultPath"], f"{what} ResultPath", bad, reference=True)


def _choice(state: dict[str, Any], states: dict[str, Any], bad: Any) -> None:
    rules = state.get("Choices")
    if not isinstance(rules, list) or not rules:
        bad("a Choice state needs Choices, a non-empty array of rules")
        rules = []
    for i, rule in enumerate(rules):
        what = f"Choices[{i}]"
        if not isinstance(rule, dict):
            bad(f"{what} must be an object")
            continue
        if not isinstance(rule.get("Next"), str):
            bad(f"{what} needs Next")
        elif rule["Next"] not in states:
            bad(f"{what}: Next {rule['Next']!r} names no state")
        _rule(rule, what, bad, top=True)
    if "Default" in state and not isinstance(state["Default"], str):
        bad("Default must be the name of a state")
    elif "Default" in state and state["Default"] not in states:
        bad(f"Default {state['Default']!r} names no state")


_VALUE_KINDS: dict[str, type | tuple[type, ...]] = {"String": str, "Numeric": (int, float), "Boolean": bool}


def _rule(rule: Any, what: str, bad: Any, top: bool = False) -> None:
    if not isinstance(rule, dict):
        bad(f"{what} must be an object")
        return
    if not top and "Next" in rule:
        bad(f"{what}: a rule inside And/Or/Not has no Next")
    combiners = [k for k in ("And", "Or", "Not") if k in rule]
    operators = choice.rule_operator(rule)
    if len(combiners) + len(operators) != 1:
        found = combiners + operators
        bad(f"{what} needs exactly one comparison (like NumericGreaterThan) or And/Or/Not"
            + (f", not {', '.join(found)}" if found else ""))
        return
    if combiners:
        key = combiners[0]
        if key == "Not":
            _rule(rule["Not"], f"{what}.Not", bad)
        elif not isinstance(rule[key], list) or not rule[key]:
            bad(f"{what}: {key} needs a non-empty array of rules")
        else:
            for j, sub in enumerate(rule[key]):
                _rule(sub, f"{what}.{key}[{j}]", bad)
        return
    operator = operators[0]
    if "Variable" not in rule:
        bad(f"{what} needs Variable (the path it compares)")
    else:
        _path(rule["Variable"], f"{what} Variable", bad)
    value = rule[operator]
    if operator.endswith("Path"):
        _path(value, f"{what} {operator}", bad)
    elif operator.startswith("Is"):
        if not isinstance(value, bool):
            bad(f"{what}: {operator} takes true or false")
    elif operator == "StringMatches":
        if not isinstance(value, str):
            bad(f"{what}: StringMatches takes a string pattern")
    elif operator.startswith("Timestamp"):
        if choice.timestamp(value) is None:
            bad(f"{what}: {operator} takes an RFC 3339 timestamp like 2026-01-01T00:00:00Z, not {value!r}")
    else:
        kind = next(k for k in _VALUE_KINDS if operator.startswith(k))
        expected = _VALUE_KINDS[kind]
        if not isinstance(value, expected) or (kind == "Numeric" and isinstance(value, bool)):
            bad(f"{what}: {operator} compares with a {kind.lower()} value, not {value!r}")


def _wait(state: dict[str, Any], bad: Any) -> None:
    given = [k for k in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if k in state]
    if len(given) != 1:
        bad("a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath"
            + (f", not {' and '.join(given)}" if given else ""))
    if "Seconds" in state and not (_non_negative_int(state["Seconds"]) and state["Seconds"] <= _MAX_SECONDS):
        bad("Seconds must be an integer of 0 or more")
    if "Timestamp" in state and choice.timestamp(state["Timestamp"]) is None:
        bad(f"Timestamp {state['Timestamp']!r} is not an RFC 3339 timestamp like 2026-01-01T00:00:00Z")
    for field in ("SecondsPath", "TimestampPath"):
        if field in state:
            _path(state[field], field, bad, reference=True)


def _map(name: str, state: dict[str, Any], bad: Any, out: list[str], seen: set[str]) -> None:
    processor = state.get("ItemProcessor", state.get("Iterator"))
    if "ItemProcessor" in state and "Iterator" in state:
        bad("has both ItemProcessor and Iterator (its older name)")
    if "ItemSelector" in state and "Parameters" in state:
        bad("has both ItemSelector and Parameters (its older name)")
    if not isinstance(processor, dict):
        bad("a Map state needs ItemProcessor {StartAt, States}")
    else:
        config = processor.get("ProcessorConfig") or {}
        if not isinstance(config, dict):
            bad("ProcessorConfig must be an object")
            config = {}
        if config.get("Mode", "INLINE") != "INLINE":
            bad(f"ProcessorConfig Mode {config.get('Mode')!r}: only INLINE Map runs here")
        _machine(processor, f"State {name!r} ItemProcessor: ", out, seen)
    if "ItemsPath" in state and state["ItemsPath"] is not None:
        _path(state["ItemsPath"], "ItemsPath", bad, reference=True)
    if "MaxConcurrency" in state and not _non_negative_int(state["MaxConcurrency"]):
        bad("MaxConcurrency must be an integer of 0 or more (0: no limit)")
    if "ToleratedFailurePercentage" in state and not (
            isinstance(state["ToleratedFailurePercentage"], (int, float))
            and 0 <= state["ToleratedFailurePercentage"] <= 100):
        bad("ToleratedFailurePercentage must be a number from 0 to 100")
    if "ToleratedFailureCount" in state and not _non_negative_int(state["ToleratedFailureCount"]):
        bad("ToleratedFailureCount must be an integer of 0 or more")
    for field in ("ItemReader", "ItemBatcher", "ResultWriter"):
        if field in state:
            bad(f"{field} is for distributed Map, which does not run here; use an inline Map")
