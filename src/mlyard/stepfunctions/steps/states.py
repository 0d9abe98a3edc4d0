"""States and how they chain into a state machine definition (Amazon States Language), in the
shape of the Step Functions Data Science SDK: snake_case arguments, ``to_dict()`` in PascalCase,
``Placeholder`` values in ``parameters`` written as ``"<key>.$": "<path>"``."""

from __future__ import annotations

import json
from typing import Any

from mlyard.stepfunctions.inputs import Placeholder, StepInput

__all__ = ["Block", "Retry", "Catch", "State", "Pass", "Succeed", "Fail", "Wait", "Choice", "Parallel", "Map",
           "Task", "Chain", "Graph", "FrozenGraph", "DuplicateStatesInChain"]

_FIELDS = {
    "comment": "Comment", "input_path": "InputPath", "parameters": "Parameters", "result_path": "ResultPath",
    "output_path": "OutputPath", "result": "Result", "result_selector": "ResultSelector", "error": "Error",
    "cause": "Cause", "seconds": "Seconds", "timestamp": "Timestamp", "seconds_path": "SecondsPath",
    "timestamp_path": "TimestampPath", "items_path": "ItemsPath", "max_concurrency": "MaxConcurrency",
    "item_selector": "ItemSelector", "tolerated_failure_count": "ToleratedFailureCount",
    "tolerated_failure_percentage": "ToleratedFailurePercentage", "resource": "Resource",
    "timeout_seconds": "TimeoutSeconds", "timeout_seconds_path": "TimeoutSecondsPath",
    "heartbeat_seconds": "HeartbeatSeconds", "heartbeat_seconds_path": "HeartbeatSecondsPath",
    "error_equals": "ErrorEquals", "interval_seconds": "IntervalSeconds", "max_attempts": "MaxAttempts",
    "backoff_rate": "BackoffRate", "max_delay_seconds": "MaxDelaySeconds", "jitter_strategy": "JitterStrategy",
    "version": "Version",
}


class DuplicateStatesInChain(Exception):
    """A chain that holds the same state twice."""


def _encode(value: Any) -> Any:
    """Parameters with placeholders: ``{"a": p}`` -> ``{"a.$": "<path>"}``, recursively."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, Placeholder):
                out[f"{key}.$"] = item.to_jsonpath()
            else:
                out[key] = _encode(item)
        return out
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


class Block:
    """Something with fields (``allowed_fields``) that writes itself as States Language."""

    def __init__(self, **kwargs: Any) -> None:
        allowed = self.allowed_fields()
        for key in kwargs:
            if key not in allowed:
                raise TypeError(f"{type(self).__name__} got an unexpected argument {key!r} (it takes: "
                                f"{', '.join(sorted(allowed))})")
        self.fields = {k: v for k, v in kwargs.items() if v is not None}

    def allowed_fields(self) -> set[str]:
        return set()

    def _fields_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.fields.items():
            name = _FIELDS[key]
            if key in ("parameters", "result_selector", "item_selector"):
                value = _encode(value)
            elif isinstance(value, Placeholder):
                value = value.to_jsonpath()
            out[name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return self._fields_dict()

    def to_json(self, pretty: bool = False) -> str:
        return json.dumps(self.to_dict(), indent=4 if pretty else None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.fields.items())})"


class Retry(Block):
    def __init__(self, error_equals: list[str], interval_seconds: int | None = None, max_attempts: int | None = None,
                 backoff_rate: float | None = None, max_delay_seconds: int | None = None,
                 jitter_strategy: str | None = None, comment: str | None = None) -> None:
        super().__init__(error_equals=error_equals, interval_seconds=interval_seconds, max_attempts=max_attempts,
                         backoff_rate=backoff_rate, max_delay_seconds=max_delay_seconds,
                         jitter_strategy=jitter_strategy, comment=comment)

    def allowed_fields(self) -> set[str]:
        return {"error_equals", "interval_seconds", "max_attempts", "backoff_rate", "max_delay_seconds",
                "jitter_strategy", "comment"}


class Catch(Block):
    def __init__(self, next_step: State, error_equals: list[str], result_path: str | None = None,
                 comment: str | None = None) -> None:
        super().__init__(error_equals=error_equals, result_path=result_path, comment=comment)
        self.next_step = next_step

    def allowed_fields(self) -> set[str]:
        return {"error_equals", "result_path", "comment"}

    def to_dict(self) -> dict[str, Any]:
        return {**self._fields_dict(), "Next": self.next_step.state_id}


class State(Block):
    """A state: ``next(step)`` sets what follows (and returns ``step``, so chains read left to right)."""

    state_type = ""

    def __init__(self, state_id: str, state_type: str | None = None, output_schema: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(state_id, str) or not state_id or len(state_id) > 128:
            raise ValueError(f"state_id {state_id!r} must be a name of 1 to 128 characters")
        self.state_id = state_id
        self.state_type = state_type or self.state_type
        self.output_schema = output_schema
        self.next_step: State | None = None
        self.retries: list[Retry] = []
        self.catches: list[Catch] = []
        self._output = StepInput(schema=output_schema)

    def allowed_fields(self) -> set[str]:
        return {"comment", "input_path", "parameters", "result_path", "output_path"}

    def next(self, next_step: State | Chain) -> State:
        if isinstance(next_step, Chain):
            if not next_step.steps:
                raise ValueError("next() needs a state or a chain that is not empty")
            first = next_step.steps[0]
            self.next_step = first
            return next_step.steps[-1]
        self.next_step = next_step
        return next_step

    def output(self) -> StepInput:
        """The state's output, as the next state's input (``$[...]``)."""
        return self._output

    def update_parameters(self, params: dict[str, Any]) -> None:
        if "parameters" not in self.allowed_fields():
            raise TypeError(f"a {self.state_type} state has no parameters")
        self.fields["parameters"] = _merge(dict(self.fields.get("parameters") or {}), params)

    def add_retry(self, retry: Retry) -> None:
        if self.state_type not in ("Task", "Parallel", "Map"):
            raise ValueError(f"a {self.state_type} state has no Retry")
        self.retries.append(retry)

    def add_catch(self, catch: Catch) -> None:
        if self.state_type not in ("Task", "Parallel", "Map"):
            raise ValueError(f"a {self.state_type} state has no Catch")
        self.catches.append(catch)

    def _targets(self) -> list[State]:
        out = [self.next_step] if self.next_step is not None else []
        return out + [c.next_step for c in self.catches]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Type": self.state_type, **self._fields_dict()}
        if self.retries:
            out["Retry"] = [r.to_dict() for r in self.retries]
        if self.catches:
            out["Catch"] = [c.to_dict() for c in self.catches]
        if self.state_type not in ("Choice", "Succeed", "Fail"):
            if self.next_step is not None:
                out["Next"] = self.next_step.state_id
            else:
                out["End"] = True
        return out


def _merge(base: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merge(dict(base[key]), value)
        else:
            base[key] = value
    return base


class Pass(State):
    state_type = "Pass"

    def allowed_fields(self) -> set[str]:
        return super().allowed_fields() | {"result"}


class Succeed(State):
    state_type = "Succeed"

    def allowed_fields(self) -> set[str]:
        return {"comment", "input_path", "output_path"}

    def next(self, next_step: State | Chain) -> State:
        raise ValueError("a Succeed state ends its flow: it has no next state")


class Fail(State):
    state_type = "Fail"

    def allowed_fields(self) -> set[str]:
        return {"comment", "error", "cause"}

    def next(self, next_step: State | Chain) -> State:
        raise ValueError("a Fail state ends its flow: it has no next state")


class Wait(State):
    state_type = "Wait"

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        given = [k for k in ("seconds", "timestamp", "seconds_path", "timestamp_path") if kwargs.get(k) is not None]
        if len(given) != 1:
            raise ValueError("a Wait state takes exactly one of seconds, timestamp, seconds_path, timestamp_path")
        super().__init__(state_id, **kwargs)

    def allowed_fields(self) -> set[str]:
        return {"comment", "input_path", "output_path", "seconds", "timestamp", "seconds_path", "timestamp_path"}


class Choice(State):
    state_type = "Choice"

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        super().__init__(state_id, **kwargs)
        self.choices: list[tuple[Any, State]] = []
        self.default: State | None = None

    def allowed_fields(self) -> set[str]:
        return {"comment", "input_path", "output_path"}

    def add_choice(self, rule: Any, next_step: State) -> None:
        self.choices.append((rule, next_step))

    def default_choice(self, next_step: State) -> None:
        self.default = next_step

    def next(self, next_step: State | Chain) -> State:
        """On a Choice, what follows when no rule matches (its Default)."""
        target = next_step.steps[0] if isinstance(next_step, Chain) else next_step
        self.default = target
        return next_step.steps[-1] if isinstance(next_step, Chain) else next_step

    def _targets(self) -> list[State]:
        return [s for _, s in self.choices] + ([self.default] if self.default is not None else [])

    def to_dict(self) -> dict[str, Any]:
        if not self.choices:
            raise ValueError(f"Choice state {self.state_id!r} needs at least one rule (add_choice)")
        out = super().to_dict()
        out["Choices"] = [{**rule.to_dict(), "Next": step.state_id} for rule, step in self.choices]
        if self.default is not None:
            out["Default"] = self.default.state_id
        return out


class Parallel(State):
    state_type = "Parallel"

    def __init__(self, state_id: str, retry: list[Retry] | Retry | None = None,
                 catch: list[Catch] | Catch | None = None, **kwargs: Any) -> None:
        super().__init__(state_id, **kwargs)
        self.branches: list[State] = []
        self.retries = _listed(retry)
        self.catches = _listed(catch)

    def allowed_fields(self) -> set[str]:
        return super().allowed_fields() | {"result_selector"}

    def add_branch(self, branch: State | Chain) -> None:
        self.branches.append(branch.steps[0] if isinstance(branch, Chain) else branch)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["Branches"] = [Graph(b).to_dict() for b in self.branches]
        return out


class Map(State):
    state_type = "Map"

    def __init__(self, state_id: str, retry: list[Retry] | Retry | None = None,
                 catch: list[Catch] | Catch | None = None, iterator: State | Chain | None = None,
                 **kwargs: Any) -> None:
        super().__init__(state_id, **kwargs)
        self.iterator: State | None = None
        if iterator is not None:
            self.attach_iterator(iterator)
        self.retries = _listed(retry)
        self.catches = _listed(catch)

    def allowed_fields(self) -> set[str]:
        return super().allowed_fields() | {"items_path", "max_concurrency", "result_selector", "item_selector",
                                           "tolerated_failure_count", "tolerated_failure_percentage"}

    def attach_iterator(self, iterator: State | Chain) -> None:
        self.iterator = iterator.steps[0] if isinstance(iterator, Chain) else iterator

    def to_dict(self) -> dict[str, Any]:
        if self.iterator is None:
            raise ValueError(f"Map state {self.state_id!r} needs an iterator (attach_iterator)")
        out = super().to_dict()
        out["Iterator"] = Graph(self.iterator).to_dict()
        return out


class Task(State):
    state_type = "Task"

    def __init__(self, state_id: str, retry: list[Retry] | Retry | None = None,
                 catch: list[Catch] | Catch | None = None, **kwargs: Any) -> None:
        for field_name in ("timeout_seconds", "heartbeat_seconds"):
            if kwargs.get(field_name) is not None and kwargs.get(field_name + "_path") is not None:
                raise ValueError(f"a Task takes {field_name} or {field_name}_path, not both")
        super().__init__(state_id, **kwargs)
        self.retries = _listed(retry)
        self.catches = _listed(catch)

    def allowed_fields(self) -> set[str]:
        return super().allowed_fields() | {"resource", "result_selector", "timeout_seconds", "timeout_seconds_path",
                                           "heartbeat_seconds", "heartbeat_seconds_path"}


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class Chain:
    """States one after another: ``Chain([a, b, c])`` is ``a.next(b).next(c)``."""

    def __init__(self, steps: list[State] | None = None) -> None:
        self.steps: list[State] = []
        for step in steps or []:
            self.append(step)

    def append(self, step: State) -> None:
        if step in self.steps:
            raise DuplicateStatesInChain(f"state {step.state_id!r} is in the chain already")
        if self.steps:
            self.steps[-1].next(step)
        self.steps.append(step)

    def __iter__(self) -> Any:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)


class Graph(Block):
    """A state machine: the states reachable from ``branch``'s first state."""

    def __init__(self, branch: State | Chain, timeout_seconds: int | None = None, comment: str | None = None,
                 version: str | None = None) -> None:
        super().__init__(timeout_seconds=timeout_seconds, comment=comment, version=version)
        if isinstance(branch, Chain):
            if not branch.steps:
                raise ValueError("a workflow's definition needs at least one state")
            branch = branch.steps[0]
        self.start = branch

    def allowed_fields(self) -> set[str]:
        return {"timeout_seconds", "comment", "version"}

    def states(self) -> dict[str, State]:
        found: dict[str, State] = {}
        todo = [self.start]
        while todo:
            state = todo.pop(0)
            seen = found.get(state.state_id)
            if seen is not None:
                if seen is not state:
                    raise ValueError(f"two different states are named {state.state_id!r}; state names are unique "
                                     "in a workflow")
                continue
            found[state.state_id] = state
            todo.extend(state._targets())
        return found

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"StartAt": self.start.state_id, **self._fields_dict()}
        out["States"] = {name: state.to_dict() for name, state in self.states().items()}
        return out


class FrozenGraph(Graph):
    """A definition given as States Language (``Workflow.attach``): kept as it is."""

    def __init__(self, definition: dict[str, Any]) -> None:
        Block.__init__(self)
        self.definition = definition
        self.start = Pass(str(definition.get("StartAt") or "Start"))

    @classmethod
    def from_json(cls, text: str) -> FrozenGraph:
        return cls(json.loads(text))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.definition))
