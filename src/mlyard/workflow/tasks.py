"""Task states' service integrations, run on mlyard itself (the control plane, in process).

``arn:aws:states:::sagemaker:<api>[.sync]`` for createTrainingJob, createProcessingJob,
createTransformJob, createHyperParameterTuningJob (``.sync``: wait until the job ends; the result
is its description; a failed or stopped job fails the task with ``States.TaskFailed``, its cause
the description; an execution stopped or timed out stops the job), and createModel,
createEndpointConfig, createEndpoint, updateEndpoint (request-response). Parameters are the
SageMaker API's requests, checked by the same schemas as the HTTP API's.

A job's name is the task's idempotency key: the name given in the parameters, else one made from
the task's key. ``TaskSubmitted`` records it before the task waits, so a replay after a restart
follows the same job; a job found under that name is followed, never created twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlyard.errors import ConflictError, MlyardError, NotFoundError
from mlyard.workflow.errors import RUNTIME, TASK_FAILED, TIMEOUT, StatesError

if TYPE_CHECKING:
    from mlyard.server.control import ControlPlane
    from mlyard.workflow.interpreter import TaskCall

__all__ = ["ControlPlaneTasks", "resource_api", "SUPPORTED"]

_RESOURCE = re.compile(r"^arn:[a-z0-9-]+:states:[^:]*:[^:]*:(?P<service>[A-Za-z0-9-]+):(?P<api>[A-Za-z]+)"
                       r"(?P<sync>\.sync(?::2)?)?$")
SAGEMAKER_ERROR = "SageMaker.AmazonSageMakerException"


@dataclass(frozen=True)
class _JobApi:
    kind: str            # the catalog's job kind ("" for a tuning job)
    name_key: str        # the request's name field
    status_key: str      # the description's status field
    schema: str          # the request schema in mlyard.server.schemas
    short: bool = False  # names of at most 32 characters (tuning jobs)


_JOBS = {
    "createTrainingJob": _JobApi("training", "TrainingJobName", "TrainingJobStatus", "CreateTrainingJob"),
    "createProcessingJob": _JobApi("processing", "ProcessingJobName", "ProcessingJobStatus", "CreateProcessingJob"),
    "createTransformJob": _JobApi("transform", "TransformJobName", "TransformJobStatus", "CreateTransformJob"),
    "createHyperParameterTuningJob": _JobApi("", "HyperParameterTuningJobName", "HyperParameterTuningJobStatus",
                                             "CreateTuningJob", short=True),
}
_CALLS = ("createModel", "createEndpointConfig", "createEndpoint", "updateEndpoint")
SUPPORTED = tuple(f"sagemaker:{api}" for api in (*_JOBS, *_CALLS))
_ENDED = {"Completed", "Failed", "Stopped"}


def resource_api(resource: str) -> tuple[str, str, bool]:
    """(service, api, sync) of a Task's Resource; ValueError if it is not one that runs here."""
    m = _RESOURCE.match(resource)
    if not m or f"{m['service']}:{m['api']}" not in SUPPORTED:
        raise ValueError(f"Resource {resource!r} does not run here: the task integrations are "
                         + ", ".join(f"arn:aws:states:::{s}" for s in SUPPORTED)
                         + " (the job ones also with .sync)")
    sync = bool(m["sync"])
    if sync and m["api"] not in _JOBS:
        raise ValueError(f"Resource {resource!r}: .sync is for the job integrations only ({', '.join(_JOBS)})")
    return m["service"], m["api"], sync


class ControlPlaneTasks:
    """Runs Task states against the control plane the server holds."""

    POLL = 1.0  # at most this long between looks at a job (a change of its state wakes the wait sooner)

    def __init__(self, control: ControlPlane) -> None:
        self.control = control

    def run(self, call: TaskCall) -> Any:
        try:
            _, api, sync = resource_api(call.resource)
        except ValueError as exc:
            raise StatesError(RUNTIME, str(exc)) from None
        if not isinstance(call.parameters, dict):
            raise StatesError(SAGEMAKER_ERROR, f"{api} takes an object of parameters, not {call.parameters!r}")
        if api in _JOBS:
            return self._job(call, api, _JOBS[api], sync)
        return self._call(api, call.parameters)

    # -- request-response ---------------------------------------------------------------------
    def _call(self, api: str, params: dict[str, Any]) -> Any:
        endpoints = self.control.endpoints
        try:
            if api == "createModel":
                return endpoints.create_model(_checked("CreateModel", params))
            if api == "createEndpointConfig":
                return endpoints.create_endpoint_config(_checked("CreateEndpointConfig", params))
            if api == "createEndpoint":
                return endpoints.create_endpoint(_checked("CreateEndpoint", params))
            name, config = params.get("EndpointName"), params.get("EndpointConfigName")
            if not isinstance(name, str) or not isinstance(config, str):
                raise StatesError(SAGEMAKER_ERROR, "updateEndpoint needs EndpointName and EndpointConfigName")
            return endpoints.update_endpoint(name, config)
        except MlyardError as exc:
            raise StatesError(SAGEMAKER_ERROR, f"{api}: {exc.message}") from None

    # -- jobs -----------------------------------------------------------------------------------
    def _job(self, call: TaskCall, api: str, spec: _JobApi, sync: bool) -> Any:
        # A replay follows the job its first run submitted.
        name = str(call.submitted[spec.name_key]) if call.submitted is not None else self._submit(call, api, spec)
        if not sync:
            return {spec.name_key.replace("Name", "Arn"): self._describe(spec, name).get(
                spec.name_key.replace("Name", "Arn"))}
        return self._follow(call, spec, name)

    def _submit(self, call: TaskCall, api: str, spec: _JobApi) -> str:
        params = dict(call.parameters)
        name = params.get(spec.name_key) or _name_for(call.key, 32 if spec.short else 63)
        params[spec.name_key] = name
        try:
            request = _checked(spec.schema, params)
            if spec.kind:
                create: Callable[[dict[str, Any]], Any] = getattr(self.control, f"create_{spec.kind}_job")
            else:
                create = self.control.tunings.create
            create(request)
        except ConflictError:
            if not (call.resumed and self._exists(spec, name)):
                raise StatesError(SAGEMAKER_ERROR, f"{api}: a {spec.kind or 'tuning'} job named {name!r} exists "
                                                   "already; job names are unique: give each execution its own "
                                                   "(from the execution input, say)") from None
            # made by this very attempt before a restart: followed, not made again
        except StatesError:
            raise
        except MlyardError as exc:
            raise StatesError(SAGEMAKER_ERROR, f"{api}: {exc.message}") from None
        call.submit({spec.name_key: name})
        return name

    def _exists(self, spec: _JobApi, name: str) -> bool:
        try:
            self._describe(spec, name)
            return True
        except NotFoundError:
            return False

    def _describe(self, spec: _JobApi, name: str) -> dict[str, Any]:
        if spec.kind:
            return self.control.describe(name, spec.kind)
        return self.control.tunings.describe(name)

    def _stop(self, spec: _JobApi, name: str) -> None:
        try:
            if spec.kind:
                self.control.stop(name, "Stopped by its workflow execution", kind=spec.kind)
            else:
                self.control.tunings.stop(name)
        except MlyardError:  # ended meanwhile
            pass

    def _follow(self, call: TaskCall, spec: _JobApi, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + call.timeout if call.timeout else None
        while True:
            generation = self.control.generation
            try:
                desc = self._describe(spec, name)
            except NotFoundError:
                raise StatesError(TASK_FAILED, f"the job {name!r} this task started is gone") from None
            status = desc.get(spec.status_key)
            if status in _ENDED:
                if status == "Completed":
                    return desc
                raise StatesError(TASK_FAILED, json.dumps(desc, default=str))
            if call.stop.is_set():
                if call.stop.detaching:  # the server is stopping: the job goes on, and is followed again
                    raise StatesError(TASK_FAILED, f"the server let go of job {name!r}; it goes on")
                self._stop(spec, name)
                raise StatesError(TASK_FAILED, f"the execution was stopped; job {name!r} was asked to stop")
            if deadline is not None and time.monotonic() >= deadline:
                self._stop(spec, name)
                raise StatesError(TIMEOUT, f"job {name!r} ran longer than the task's TimeoutSeconds of "
                                           f"{call.timeout:g}; it was asked to stop")
            wait = self.POLL if deadline is None else max(0.0, min(self.POLL, deadline - time.monotonic()))
            self.control.wait_changed(generation, wait)


def _checked(schema: str, params: dict[str, Any]) -> dict[str, Any]:
    """The request as the HTTP API would take it (its schema's defaults filled in)."""
    from pydantic import ValidationError as PydanticError

    from mlyard.server import schemas

    try:
        model = getattr(schemas, schema).model_validate(params)
    except PydanticError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise StatesError(SAGEMAKER_ERROR, f"the parameters are not a valid {schema[6:] or schema} request: "
                                           f"{problems}") from None
    dumped: dict[str, Any] = model.model_dump()
    return dumped


def _name_for(key: str, length: int) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"wf-{digest}"[:length]
