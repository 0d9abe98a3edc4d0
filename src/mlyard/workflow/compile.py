"""A SageMaker pipeline definition compiled to the workflow engine: one ``Graph`` state whose nodes
are the pipeline's steps (condition branches included), each a Task of resource
``mlyard:pipeline:<step type>`` (run by ``pipeline_steps.py``) with the step's retry policies as
its Retry, waiting for the steps it depends on and, for a branch step, for its condition's
outcome. The execution's input is the scope the steps' expressions read: ``Parameters`` (defaults
filled in, types checked) and ``Execution``.

Selective execution: the steps not chosen are Pass nodes whose result is what they output in the
source execution."""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow.graph import pipeline_graph, step_requests, topological_order
from mlyard.workflow.steps import _ISO_DURATION

__all__ = ["RESOURCE", "STEP_TYPES", "compile_pipeline", "check_definition", "parameter_values"]

RESOURCE = "mlyard:pipeline:"
STEP_TYPES = ("Processing", "Training", "Transform", "Tuning", "Model", "Condition", "Fail", "RegisterModel",
              "Lambda")
_PARAMETER_TYPES = {"String": str, "Integer": int, "Float": float, "Boolean": bool}


def check_definition(definition: Any) -> dict[str, Any]:
    """The definition (JSON object) checked: its version, parameters, steps and their types, the
    DAG (references to steps not in the pipeline, cycles). ValidationError names the step and
    field."""
    if not isinstance(definition, dict):
        raise ValidationError("a pipeline definition is a JSON object with Version, Parameters and Steps")
    if not isinstance(definition.get("Steps"), list) or not definition["Steps"]:
        raise ValidationError("the pipeline definition has no Steps")
    names = set()
    if not isinstance(definition.get("Parameters") or [], list):
        raise ValidationError("the definition's Parameters must be a list of {Name, Type, DefaultValue}")
    _parallelism(definition.get("ParallelismConfiguration"), "the definition's ParallelismConfiguration")
    for i, p in enumerate(definition.get("Parameters") or []):
        if not isinstance(p, dict) or not isinstance(p.get("Name"), str):
            raise ValidationError(f"Parameters[{i}] needs a Name")
        if not isinstance(p.get("Type", "String"), str) or p.get("Type", "String") not in _PARAMETER_TYPES:
            raise ValidationError(f"parameter {p['Name']!r}: Type {p.get('Type')!r} is not one of "
                                  f"{', '.join(_PARAMETER_TYPES)}")
        if p["Name"] in names:
            raise ValidationError(f"parameter {p['Name']!r} is declared twice")
        if "EnumValues" in p and (not isinstance(p["EnumValues"], list)
                                  or not all(isinstance(v, str) for v in p["EnumValues"])):
            raise ValidationError(f"parameter {p['Name']!r}: EnumValues must be a list of strings")
        names.add(p["Name"])
        if p.get("DefaultValue") is not None:
            _typed(p, p["DefaultValue"], f"parameter {p['Name']!r}'s DefaultValue")
    steps = step_requests(definition)
    for name, step in steps.items():
        if step.get("Type") not in STEP_TYPES:
            raise ValidationError(f"step {name!r}: Type {step.get('Type')!r} is not one of {', '.join(STEP_TYPES)}")
        if not isinstance(step.get("Arguments", {}), dict):
            raise ValidationError(f"step {name!r}: Arguments must be an object")
        depends = step.get("DependsOn", [])
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise ValidationError(f"step {name!r}: DependsOn must be a list of step names")
        _check_step(name, step)
    _check_parameter_references(definition, names)
    topological_order(pipeline_graph(definition))
    return definition


def _parallelism(config: Any, what: str) -> int | None:
    """MaxParallelExecutionSteps (None: not given); ValidationError unless a whole number of at least 1."""
    if config is None:
        return None
    value = config.get("MaxParallelExecutionSteps") if isinstance(config, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError(f"{what} must be {{'MaxParallelExecutionSteps': n}} with n a whole number of at least 1")
    return value


def _check_step(name: str, step: dict[str, Any]) -> None:
    """The parts of a step the engine reads besides its arguments: retry policies, cache config,
    property files, a condition's conditions, a function's outputs."""
    policies = step.get("RetryPolicies", [])
    if not isinstance(policies, list):
        raise ValidationError(f"step {name!r}: RetryPolicies must be a list")
    for i, p in enumerate(policies):
        where = f"step {name!r}: RetryPolicies[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("ExceptionType"), list) \
                or not all(isinstance(e, str) for e in p["ExceptionType"]):
            raise ValidationError(f"{where} needs ExceptionType: a list of exception type names")
        for key in ("IntervalSeconds", "BackoffRate", "MaxAttempts", "ExpireAfterMin"):
            value = p.get(key)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
                raise ValidationError(f"{where}: {key} must be a number of 0 or more, not {value!r}")
    cache = step.get("CacheConfig")
    if cache is not None:
        if not isinstance(cache, dict) or not isinstance(cache.get("Enabled", False), bool):
            raise ValidationError(f"step {name!r}: CacheConfig must be {{'Enabled': true|false, 'ExpireAfter': ...}}")
        expiry = cache.get("ExpireAfter")
        if expiry is not None and (not isinstance(expiry, str) or _ISO_DURATION.match(expiry) is None):
            raise ValidationError(f"step {name!r}: CacheConfig.ExpireAfter {expiry!r} is not an ISO 8601 duration "
                                  "(like 'P30D' or 'PT1H')")
    files = step.get("PropertyFiles", [])
    if not isinstance(files, list) or not all(
            isinstance(f, dict) and all(isinstance(f.get(k), str) for k in ("PropertyFileName", "OutputName",
                                                                             "FilePath")) for f in files):
        raise ValidationError(f"step {name!r}: PropertyFiles must be a list of {{PropertyFileName, OutputName, "
                              "FilePath}}")
    if step.get("Type") == "Condition":
        conditions = (step.get("Arguments") or {}).get("Conditions")
        if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
            raise ValidationError(f"step {name!r}: Arguments.Conditions must be a list of conditions")
    if step.get("Type") == "Lambda":
        outputs = step.get("OutputParameters", [])
        if not isinstance(step.get("FunctionArn"), str) or not isinstance(outputs, list) or not all(
                isinstance(o, dict) and isinstance(o.get("OutputName"), str) for o in outputs):
            raise ValidationError(f"step {name!r}: a Lambda step needs FunctionArn and OutputParameters "
                                  "[{OutputName, OutputType}]")


def _check_parameter_references(definition: dict[str, Any], declared: set[str]) -> None:
    def walk(value: Any, step: str, where: str) -> None:
        if isinstance(value, dict):
            get = value.get("Get")
            if len(value) == 1 and isinstance(get, str) and get.startswith("Parameters."):
                if get[len("Parameters."):] not in declared:
                    raise ValidationError(f"step {step!r} refers in {where} to parameter "
                                          f"{get[len('Parameters.'):]!r}, which the pipeline does not declare")
                return
            for k, v in value.items():
                if k not in ("IfSteps", "ElseSteps"):
                    walk(v, step, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, step, f"{where}[{i}]")

    for name, step in step_requests(definition).items():
        walk(step.get("Arguments") or {}, name, "Arguments")


def _typed(declared: dict[str, Any], value: Any, what: str) -> Any:
    kind = declared.get("Type", "String")
    ok = (isinstance(value, bool) if kind == "Boolean"
          else isinstance(value, int) and not isinstance(value, bool) if kind == "Integer"
          else isinstance(value, (int, float)) and not isinstance(value, bool) if kind == "Float"
          else isinstance(value, str))
    if not ok and isinstance(value, str) and kind != "String":  # the API's PipelineParameters are strings
        try:
            parsed: Any = {"Integer": int, "Float": float}[kind](value) if kind != "Boolean" else \
                {"true": True, "false": False}[value.lower()]
            return parsed
        except (KeyError, ValueError):
            pass
    if not ok:
        raise ValidationError(f"{what} must be a {kind}, not {value!r} ({type(value).__name__})")
    if kind == "String" and declared.get("EnumValues") and value not in declared["EnumValues"]:
        raise ValidationError(f"{what} must be one of {declared['EnumValues']}, not {value!r}")
    return float(value) if kind == "Float" else value


def parameter_values(definition: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Every declared parameter's value for one execution: given (checked against its type), else
    its default. ValidationError for an unknown parameter, a wrong type, or a missing value."""
    declared = {p["Name"]: p for p in definition.get("Parameters") or []}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValidationError(f"the pipeline has no parameter {unknown[0]!r} (its parameters: "
                              f"{', '.join(declared) or 'none'})")
    values = {}
    for name, p in declared.items():
        if name in given:
            values[name] = _typed(p, given[name], f"parameter {name!r}")
        elif p.get("DefaultValue") is not None:
            values[name] = _typed(p, p["DefaultValue"], f"parameter {name!r}")
        else:
            raise ValidationError(f"parameter {name!r} has no default value: give it at start")
    return values


def _retry(policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in policies:
        interval = float(p.get("IntervalSeconds", 1))
        backoff = float(p.get("BackoffRate", 2.0))
        attempts = p.get("MaxAttempts")
        if attempts is None:  # ExpireAfterMin: the retries whose waits fit in that many minutes
            budget, attempts, delay = float(p.get("ExpireAfterMin", 0)) * 60, 0, interval
            while budget >= delay and attempts < 20:
                budget -= delay
                attempts += 1
                delay *= backoff
        out.append({"ErrorEquals": list(p.get("ExceptionType") or []), "IntervalSeconds": interval,
                    "BackoffRate": backoff, "MaxAttempts": int(attempts)})
    return out


def compile_pipeline(definition: dict[str, Any], selected: list[str] | None = None,
                     reused: dict[str, Any] | None = None) -> dict[str, Any]:
    """The state machine of one execution of ``definition``. ``selected``: run only these steps,
    the others' outputs from ``reused`` (step -> its output in the source execution)."""
    steps = step_requests(definition)
    graph = pipeline_graph(definition)
    topological_order(graph)
    branch_of: dict[str, tuple[str, bool]] = {}
    for name, step in steps.items():
        if step.get("Type") == "Condition":
            args = step.get("Arguments") or {}
            for s in args.get("IfSteps") or []:
                branch_of[s["Name"]] = (name, True)
            for s in args.get("ElseSteps") or []:
                branch_of[s["Name"]] = (name, False)
    nodes: dict[str, Any] = {}
    for name, step in steps.items():
        request = dict(step)
        if step.get("Type") == "Condition":
            request["Arguments"] = {"Conditions": (step.get("Arguments") or {}).get("Conditions") or []}
        if selected is not None and name not in selected:
            if reused is None or name not in reused:  # fails only if it would run (not a branch not taken)
                state: dict[str, Any] = {
                    "Type": "Fail", "Error": "Pipeline.NotSelected",
                    "Cause": f"step {name!r} is not selected and did not succeed in the source execution, so it has "
                             "no output to reuse: select it too"}
            else:
                state = {"Type": "Pass", "Result": reused[name], "End": True}
        else:
            state = {"Type": "Task", "Resource": RESOURCE + str(step["Type"]),
                     "Parameters": {"Step": request, "Scope.$": "$"}, "End": True}
            if step.get("RetryPolicies"):
                state["Retry"] = _retry(step["RetryPolicies"])
        node: dict[str, Any] = {"After": graph[name], "StepType": step.get("Type"),
                                "Machine": {"StartAt": name, "States": {name: state}}}
        if name in branch_of:
            node["When"] = [list(branch_of[name])]
        nodes[name] = node
    parallelism = _parallelism(definition.get("ParallelismConfiguration"), "ParallelismConfiguration")
    graph_state: dict[str, Any] = {"Type": "Graph", "Nodes": nodes, "End": True}
    if parallelism:
        graph_state["MaxConcurrency"] = int(parallelism)
    return {"Comment": "a SageMaker pipeline", "StartAt": "Pipeline", "States": {"Pipeline": graph_state}}
