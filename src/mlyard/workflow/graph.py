"""The DAG of a SageMaker pipeline definition: a step depends on the steps its arguments refer to
(``{"Get": "Steps.<name>..."}``, a ``JsonGet``'s property file), on those its ``DependsOn`` names,
and a ``ConditionStep``'s branch steps on the condition step. Works on the definition's JSON, so a
definition written by hand is checked like one the SDK wrote."""

from __future__ import annotations

import re
from typing import Any

from mlyard.errors import ValidationError

__all__ = ["step_requests", "dependencies", "pipeline_graph", "topological_order"]

_STEP_REF = re.compile(r"^Steps\.([A-Za-z0-9\-_]+)(?:$|[.\[])")


def step_requests(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step of the definition by name, those in a condition's branches too; ValidationError
    for a name used twice."""
    found: dict[str, dict[str, Any]] = {}

    def visit(steps: Any, where: str) -> None:
        if not isinstance(steps, list):
            raise ValidationError(f"{where} must be a list of steps")
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                raise ValidationError(f"{where}[{i}] is not a step (an object with Name, Type and Arguments)")
            name = step.get("Name")
            if not isinstance(name, str) or not name:
                raise ValidationError(f"{where}: a step without a Name")
            if name in found:
                raise ValidationError(f"step name {name!r} is used twice; step names are unique in a pipeline")
            found[name] = step
            if step.get("Type") == "Condition":
                args = step.get("Arguments") or {}
                if not isinstance(args, dict):
                    raise ValidationError(f"step {name!r}: Arguments must be an object")
                visit(args.get("IfSteps") or [], f"step {name!r} IfSteps")
                visit(args.get("ElseSteps") or [], f"step {name!r} ElseSteps")

    visit(definition.get("Steps") or [], "Steps")
    return found


def _references(value: Any, path: str) -> list[tuple[str, str]]:
    """(step name, where) of every step reference in ``value`` (``where``: the field's path)."""
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        get = value.get("Get")
        if isinstance(get, str) and len(value) == 1:
            m = _STEP_REF.match(get)
            if m:
                out.append((m.group(1), path))
            return out
        for key, item in value.items():
            out += _references(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _references(item, f"{path}[{i}]")
    return out


def dependencies(step: dict[str, Any]) -> list[tuple[str, str]]:
    """(step it depends on, the field that says so) for one step's request; a condition step's
    branches are its own, not what it depends on."""
    args = step.get("Arguments") or {}
    if step.get("Type") == "Condition":
        args = {"Conditions": args.get("Conditions") or []}
    found = _references(args, "Arguments")
    found += [(name, "DependsOn") for name in step.get("DependsOn") or []]
    return found


def pipeline_graph(definition: dict[str, Any]) -> dict[str, list[str]]:
    """Step name -> the steps it waits for. ValidationError naming the step and the field for a
    reference to a step not in the pipeline, or to itself."""
    steps = step_requests(definition)
    graph: dict[str, list[str]] = {name: [] for name in steps}
    for name, step in steps.items():
        for dep, field in dependencies(step):
            if dep not in steps:
                raise ValidationError(f"step {name!r} refers in {field} to step {dep!r}, which is not in the pipeline")
            if dep == name:
                raise ValidationError(f"step {name!r} refers to itself in {field}")
            if dep not in graph[name]:
                graph[name].append(dep)
        if step.get("Type") == "Condition":
            args = step.get("Arguments") or {}
            for branch in (args.get("IfSteps") or []) + (args.get("ElseSteps") or []):
                if name not in graph[branch["Name"]]:
                    graph[branch["Name"]].append(name)
    return graph


def topological_order(graph: dict[str, list[str]]) -> list[str]:
    """The steps, each after those it waits for (ties in definition order); ValidationError naming
    a cycle."""
    waiting = {name: set(deps) for name, deps in graph.items()}
    order: list[str] = []
    while waiting:
        ready = [name for name, deps in waiting.items() if not deps]
        if not ready:
            raise ValidationError(f"the steps form a cycle: {' -> '.join(_cycle(waiting))}")
        for name in ready:
            order.append(name)
            del waiting[name]
        for deps in waiting.values():
            deps.difference_update(ready)
    return order


def _cycle(waiting: dict[str, set[str]]) -> list[str]:
    """One cycle among steps that all wait: followed from any of them until a step repeats."""
    path = [next(iter(waiting))]
    while True:
        following = sorted(waiting[path[-1]])[0]
        if following in path:
            return path[path.index(following):] + [following]
        path.append(following)
