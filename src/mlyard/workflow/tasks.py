"""Task states' service integrations, run on mlyard itself (the control plane, in process).

``arn:aws:states:::sagemaker:<api>[.sync]`` for createTrainingJob, createProcessingJob,
createTransformJob, createHyperParameterTuningJob (``.sync``: wait until the job ends; the result
is its description; a failed or stopped job fails the task with ``States.TaskFailed``, its cause
the description; an execution stopped or timed out stops the job), and createModel,
createEndpointConfig, createEndpoint, updateEndpoint (request-response). Parameters are the
SageMaker API's requests, checked by the same schemas as the HTTP API's.

``arn:aws:states:::lambda:invoke`` (and a function's own ARN) runs a registered function
(``server/functions.py``) in a processing job of its own, never in the server: the event is
stored as the job's input, the function's JSON result read back from its output. The result is
Lambda's ``{"ExecutedVersion", "Payload", "StatusCode"}`` (a function's ARN as the Resource: the
payload alone). A function that raises fails the task with its exception's name as the error and
Lambda's error record as the cause, so Retry and Catch can name it; other failures of its job are
``Lambda.Unknown``.

``HeartbeatSeconds`` on a job's task: the job must show a sign of life (a status change, a log
line) at least that often, else the task fails with ``States.HeartbeatTimeout`` and the job is
stopped.

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

from mlyard import store
from mlyard.errors import ConflictError, MlyardError, NotFoundError
from mlyard.workflow.compile import RESOURCE as PIPELINE_RESOURCE
from mlyard.workflow.errors import HEARTBEAT_TIMEOUT, RUNTIME, TASK_FAILED, TIMEOUT, StatesError

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
_FUNCTION_JOB = _JobApi("processing", "ProcessingJobName", "ProcessingJobStatus", "CreateProcessingJob")
_FUNCTION_ARN = re.compile(r"^arn:[a-z0-9-]+:lambda:[^:]*:[^:]*:function:[^:]+(?::[^:]+)?$")
SUPPORTED = (*(f"sagemaker:{api}" for api in (*_JOBS, *_CALLS)), "lambda:invoke")
_ENDED = {"Completed", "Failed", "Stopped"}
PAYLOAD_LIMIT = 256 * 1024  # bytes of a function's event or result, as Step Functions' payload limit


def resource_api(resource: str) -> tuple[str, str, bool]:
    """(service, api, sync) of a Task's Resource; ValueError if it is not one that runs here. A
    function's own ARN is (``lambda``, ``function``, False)."""
    if _FUNCTION_ARN.match(resource):
        return "lambda", "function", False
    m = _RESOURCE.match(resource)
    if not m or f"{m['service']}:{m['api']}" not in SUPPORTED:
        raise ValueError(f"Resource {resource!r} does not run here: the task integrations are "
                         + ", ".join(f"arn:aws:states:::{s}" for s in SUPPORTED)
                         + " (the sagemaker job ones also with .sync), and a function's ARN")
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
        if call.resource.startswith(PIPELINE_RESOURCE):  # a compiled SageMaker pipeline's step
            from mlyard.workflow.pipeline_steps import PipelineSteps

            return PipelineSteps(self).run(call)
        try:
            service, api, sync = resource_api(call.resource)
        except ValueError as exc:
            raise StatesError(RUNTIME, str(exc)) from None
        if service == "lambda":
            return self._invoke(call, api == "function")
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
        name = (str(call.submitted[spec.name_key]) if call.submitted is not None
                 else self._submit(call, api, spec, lambda name: {**call.parameters, spec.name_key: name}))
        if not sync:
            return {spec.name_key.replace("Name", "Arn"): self._describe(spec, name).get(
                spec.name_key.replace("Name", "Arn"))}
        return self._follow(call, spec, name)

    def _submit(self, call: TaskCall, api: str, spec: _JobApi, build: Callable[[str], dict[str, Any]]) -> str:
        """Create the job ``build(name)`` describes; the name is the parameters' or the task's own."""
        name = (call.parameters.get(spec.name_key) if isinstance(call.parameters, dict) and spec is not _FUNCTION_JOB
                else None) or _name_for(call.key, 32 if spec.short else 63)
        try:
            request = _checked(spec.schema, build(name), _service_error(api))
            if spec.kind:
                create: Callable[[dict[str, Any]], Any] = getattr(self.control, f"create_{spec.kind}_job")
            else:
                create = self.control.tunings.create
            create(request)
        except ConflictError:
            if not (call.resumed and self._exists(spec, name)):
                raise StatesError(_service_error(api), f"{api}: a {spec.kind or 'tuning'} job named {name!r} exists "
                                                       "already; job names are unique: give each execution its own "
                                                       "(from the execution input, say)") from None
            # made by this very attempt before a restart: followed, not made again
        except StatesError:
            raise
        except MlyardError as exc:
            raise StatesError(_service_error(api), f"{api}: {exc.message}") from None
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

    def _follow(self, call: TaskCall, spec: _JobApi, name: str,
                failed: Callable[[dict[str, Any]], StatesError] | None = None) -> dict[str, Any]:
        """Wait for the job to end; its description if it completed, else ``failed(description)``
        raised (by default States.TaskFailed, the description its cause)."""
        start = time.monotonic()
        # TimeoutSeconds counts from when the attempt was scheduled, across a restart of the server.
        deadline = start + call.timeout - max(0.0, time.time() - call.scheduled) if call.timeout else None
        signs, last_sign = None, start
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
                raise (failed or _task_failed)(desc)
            now = time.monotonic()
            if call.heartbeat:
                seen = self._signs(spec, name, desc)
                if seen != signs or desc.get("SecondaryStatus") == "Pending":  # queued: its clock starts later
                    signs, last_sign = seen, now
            if call.stop.is_set():
                if call.stop.detaching:  # the server is stopping: the job goes on, and is followed again
                    raise StatesError(TASK_FAILED, f"the server let go of job {name!r}; it goes on")
                self._stop(spec, name)
                raise StatesError(TASK_FAILED, f"the execution was stopped; job {name!r} was asked to stop")
            if deadline is not None and now >= deadline:
                self._stop(spec, name)
                raise StatesError(TIMEOUT, f"job {name!r} ran longer than the task's TimeoutSeconds of "
                                           f"{call.timeout:g}; it was asked to stop")
            if call.heartbeat and now - last_sign >= call.heartbeat:
                self._stop(spec, name)
                raise StatesError(HEARTBEAT_TIMEOUT, f"job {name!r} gave no sign of life (no change of status, no "
                                                     f"log line) for the task's HeartbeatSeconds of "
                                                     f"{call.heartbeat:g}; it was asked to stop")
            ends = [t for t in (deadline, last_sign + call.heartbeat if call.heartbeat else None) if t is not None]
            wait = max(0.0, min([self.POLL, *(t - now for t in ends)]))
            self.control.wait_changed(generation, wait)

    def _signs(self, spec: _JobApi, name: str, desc: dict[str, Any]) -> Any:
        """What changes while a job shows signs of life: its status and its hosts' logs (a tuning
        job: its trials' statuses and logs)."""
        if not spec.kind:
            training = _JOBS["createTrainingJob"]
            running = [t["TrainingJobName"] for t in self.control.tunings.training_jobs(name)
                       if t.get("TrainingJobStatus") == "InProgress"]
            seen = []
            for trial in running:
                try:
                    seen.append((trial, self._signs(training, trial, self._describe(training, trial))))
                except NotFoundError:
                    continue
            return (desc.get(spec.status_key), json.dumps(desc.get("TrainingJobStatusCounters"), sort_keys=True),
                    tuple(seen))
        try:
            channel, hosts, _ = self.control.log_channel(name)
            logs = tuple(channel.signature(f"logs/{h}.log") for h in hosts)
        except (NotFoundError, OSError):
            logs = ()
        return desc.get(spec.status_key), desc.get("SecondaryStatus"), logs

    # -- functions (lambda:invoke) --------------------------------------------------------------
    def _invoke(self, call: TaskCall, by_arn: bool) -> Any:
        """Run the function in a job of its own; its result (by_arn: the payload alone)."""
        function: Any
        if by_arn:
            function, payload, invocation = call.resource, call.parameters, "RequestResponse"
        else:
            params = call.parameters if isinstance(call.parameters, dict) else {}
            function, payload = params.get("FunctionName"), params.get("Payload", {})
            invocation = params.get("InvocationType") or "RequestResponse"
            if not isinstance(function, str) or not function:
                raise StatesError("Lambda.InvalidParameterValueException",
                                  "lambda:invoke needs Parameters with FunctionName (a registered function's name or "
                                  f"ARN, or a module path like 'package.module:function'), not {call.parameters!r}")
            if invocation not in ("RequestResponse", "Event"):
                raise StatesError("Lambda.InvalidParameterValueException",
                                  f"InvocationType {invocation!r} must be RequestResponse or Event")
        if call.submitted is not None:
            name = str(call.submitted[_FUNCTION_JOB.name_key])
        else:
            name = self._submit(call, "lambda:invoke", _FUNCTION_JOB,
                                lambda job: self._function_request(function, payload, job))
        if invocation == "Event":  # started, not waited for
            return {"StatusCode": 202, "Payload": ""}
        desc = self._follow(call, _FUNCTION_JOB, name, failed=_function_failed)
        try:
            data = store.read_bytes(store.join(_result_uri(desc), "result.json"))
            if len(data) > PAYLOAD_LIMIT:
                raise StatesError("States.DataLimitExceeded", f"the function's result is {len(data)} bytes; at most "
                                                              f"{PAYLOAD_LIMIT} may be returned")
            result = json.loads(data)
        except (OSError, ValueError, StopIteration) as exc:
            raise StatesError("Lambda.Unknown", f"the function's job {name!r} ended without a readable result "
                                                f"({type(exc).__name__}: {exc})") from None
        if by_arn:
            return result
        return {"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200}

    def _function_request(self, function: str, payload: Any, job: str) -> dict[str, Any]:
        """The processing job that runs ``function`` on ``payload`` (its event, stored first)."""
        from mlyard.server.functions import CODE_PATH, EVENT_PATH, RESULT_PATH

        try:
            spec = self.control.functions.resolve(function)
        except NotFoundError as exc:
            raise StatesError("Lambda.ResourceNotFoundException", exc.message) from None
        event = json.dumps(payload).encode()
        if len(event) > PAYLOAD_LIMIT:
            raise StatesError("States.DataLimitExceeded", f"the function's event is {len(event)} bytes; at most "
                                                          f"{PAYLOAD_LIMIT} may be passed")
        base = store.join(self.control.default_output, "functions", job)
        event_uri = store.upload_bytes(event, store.join(base, "event", "event.json"))
        inputs = [{"InputName": "event", "S3Input": {"S3Uri": event_uri, "LocalPath": EVENT_PATH,
                                                     "S3DataType": "S3Prefix", "S3InputMode": "File"}}]
        args = ["--handler", spec["Handler"], "--function", spec["FunctionName"], "--name", job,
                "--timeout", str(spec["Timeout"]), "--event", f"{EVENT_PATH}/event.json",
                "--result", f"{RESULT_PATH}/result.json", "--failure", "/opt/ml/output/failure"]
        if spec.get("CodeUri"):
            inputs.append({"InputName": "code", "S3Input": {"S3Uri": spec["CodeUri"], "LocalPath": CODE_PATH,
                                                            "S3DataType": "S3Prefix", "S3InputMode": "File"}})
            args += ["--code", CODE_PATH]
        return {
            "ProcessingJobName": job,
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "result", "S3Output": {
                "S3Uri": store.join(base, "result"), "LocalPath": RESULT_PATH, "S3UploadMode": "EndOfJob"}}]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": spec["InstanceType"],
                                                      "VolumeSizeInGB": 1}},
            "StoppingCondition": {"MaxRuntimeInSeconds": spec["Timeout"]},
            "AppSpecification": {"ImageUri": "mlyard-function",
                                 "ContainerEntrypoint": ["python3", "-m", "mlyard.runtime.function"],
                                 "ContainerArguments": args},
            "Environment": spec.get("Environment") or {},
            "MlyardConfig": {"CodeArchive": bool(spec.get("CodeUri")), "Sandbox": bool(spec.get("Sandbox"))},
        }


def _service_error(api: str) -> str:
    return "Lambda.ServiceException" if api.startswith("lambda") else SAGEMAKER_ERROR


def _task_failed(desc: dict[str, Any]) -> StatesError:
    return StatesError(TASK_FAILED, json.dumps(desc, default=str))


def _function_failed(desc: dict[str, Any]) -> StatesError:
    """A function's job that failed: the function's own error (Lambda's record), if it raised."""
    reason = desc.get("FailureReason") or ""
    try:
        record = json.loads(reason)
    except ValueError:
        record = None
    if isinstance(record, dict) and isinstance(record.get("errorType"), str):
        return StatesError(record["errorType"], reason)
    return StatesError("Lambda.Unknown", f"the function's job {desc.get('ProcessingJobName')!r} "
                                         f"{str(desc.get('ProcessingJobStatus')).lower()}: {reason}")


def _result_uri(desc: dict[str, Any]) -> str:
    outputs = (desc.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    return next(o["S3Output"]["S3Uri"] for o in outputs if o["OutputName"] == "result")


def _checked(schema: str, params: dict[str, Any], error: str = SAGEMAKER_ERROR) -> dict[str, Any]:
    """The request as the HTTP API would take it (its schema's defaults filled in)."""
    from pydantic import ValidationError as PydanticError

    from mlyard.server import schemas

    try:
        model = getattr(schemas, schema).model_validate(params)
    except PydanticError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise StatesError(error, f"the parameters are not a valid {schema[6:] or schema} request: "
                                 f"{problems}") from None
    dumped: dict[str, Any] = model.model_dump()
    return dumped


def _name_for(key: str, length: int) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"wf-{digest}"[:length]
