"""Runs a SageMaker pipeline's steps (the ``mlyard:pipeline:<type>`` Task resources a compiled
pipeline holds) on the control plane: the step's arguments are resolved against the execution's
scope (``expressions.py``), then a job step creates its job through the same task integration as
a Step Functions workflow (one job per attempt, named for the execution and the step, followed
again after a restart) and outputs the job's description; a ``Condition`` step outputs
``{"Outcome": bool}``; a ``Fail`` step fails with its message.

Caching: a step with ``CacheConfig.Enabled`` whose resolved arguments (code included: local code
is stored under its content's digest, so changed code is a changed argument) match a successful
earlier run of the same pipeline's step, within ``ExpireAfter``, is not run: its output is that
run's, and ``TaskSubmitted`` records the execution it came from. A miss records why: which
argument changed since the step's last run, or that it never ran."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mlyard import store
from mlyard.catalog import Objects
from mlyard.errors import ConflictError, MlyardError, NotFoundError
from mlyard.workflow.errors import TASK_FAILED, StatesError
from mlyard.workflow.expressions import ExpressionError, evaluate_conditions, resolve

if TYPE_CHECKING:
    from mlyard.workflow.interpreter import TaskCall
    from mlyard.workflow.tasks import ControlPlaneTasks

__all__ = ["PipelineSteps", "FAIL_STEP", "INVALID", "JOB_FAILED"]

FAIL_STEP = "Pipeline.FailStep"
INVALID = "Pipeline.InvalidArguments"
JOB_FAILED = "SageMaker.JobFailed"
INTERNAL = "SageMaker.JOB_INTERNAL_ERROR"
CACHE_KIND = "pipeline-cache"
_JOB_API = {"Training": "createTrainingJob", "Processing": "createProcessingJob", "Transform": "createTransformJob",
            "Tuning": "createHyperParameterTuningJob"}


class PipelineSteps:
    def __init__(self, tasks: ControlPlaneTasks) -> None:
        self.tasks = tasks
        self.objects = Objects(tasks.control.catalog)

    def run(self, call: TaskCall) -> Any:
        params = call.parameters if isinstance(call.parameters, dict) else {}
        step, scope = params.get("Step") or {}, dict(params.get("Scope") or {})
        name, kind = str(step.get("Name")), str(step.get("Type"))
        scope["Execution"] = dict(scope.get("Execution") or {},
                                  CurrentDateTime=call.context.get("State", {}).get("EnteredTime"))
        try:
            args = resolve(step.get("Arguments") or {}, scope, self._read)
            if kind == "Condition":
                return {"Outcome": evaluate_conditions(args.get("Conditions") or [])}
        except ExpressionError as exc:
            raise StatesError(INVALID, f"step {name!r}: {exc}") from None
        except (TypeError, AttributeError, KeyError, ValueError) as exc:  # a hand-written definition's shape
            raise StatesError(INVALID, f"step {name!r}: its arguments cannot be read ({type(exc).__name__}: "
                                       f"{exc})") from None
        if kind == "Fail":
            raise StatesError(FAIL_STEP, str(args.get("ErrorMessage") or f"the pipeline failed at step {name!r}"))
        if kind in _JOB_API:
            return self._job(call, step, kind, args, scope)
        if kind == "Model":
            return self._model(call, step, args, scope)
        if kind == "Lambda":
            return self._lambda(call, step, args)
        if kind == "RegisterModel":
            return self._register(call, step, args, scope)
        raise StatesError(INVALID, f"step {name!r}: steps of type {kind!r} do not run here yet")

    def _read(self, uri: str) -> bytes:
        """A file JsonGet reads: where the source policy lets the server read."""
        try:
            self.tasks.control.sources.check("JsonGet's file", uri)
        except MlyardError as exc:
            raise ExpressionError(f"JsonGet: {exc.message}") from None
        return _read_store(uri)

    # -- jobs -------------------------------------------------------------------------------------
    def _job(self, call: TaskCall, step: dict[str, Any], kind: str, args: dict[str, Any], scope: dict[str, Any]
             ) -> Any:
        from mlyard.workflow.tasks import _JOBS

        api = _JOB_API[kind]
        spec = _JOBS[api]
        name = str(step["Name"])
        cache = step.get("CacheConfig") or {}
        key = _cache_key(scope, step, args)
        if call.submitted is None and cache.get("Enabled"):
            hit = self._cached(key, cache.get("ExpireAfter"), spec)
            if hit is not None:
                call.submit({spec.name_key: hit["job"], "CacheHit": {
                    "SourcePipelineExecutionArn": hit["execution"], "SourceJobName": hit["job"]}})
                return self._output(kind, step, hit["output"])
        if call.submitted is not None and call.submitted.get("CacheHit"):
            job = str(call.submitted[spec.name_key])
            return self._output(kind, step, self.tasks._describe(spec, job))
        job_name = _job_name(scope, name, call.key, 32 if spec.short else 63)
        request = {**args, spec.name_key: job_name}
        if call.submitted is None:
            miss = self._miss(scope, name, key, args) if cache.get("Enabled") else None
            job_call = replace(call, parameters=request, resource=f"arn:aws:states:::sagemaker:{api}.sync")
            job_call._record = lambda info: call.submit({**info, **({"CacheMiss": miss} if miss else {})})
        else:
            job_call = replace(call, parameters=request, resource=f"arn:aws:states:::sagemaker:{api}.sync")
        try:
            desc = self.tasks._job(job_call, api, spec, True)
        except StatesError as exc:
            if exc.error == TASK_FAILED and exc.cause and exc.cause.startswith("{"):
                failed = json.loads(exc.cause)
                reason = str(failed.get("FailureReason") or "")
                # mlyard's own failures (a runner lost, a driver that failed) are what a
                # SageMakerJobStepRetryPolicy on JOB_INTERNAL_ERROR retries; the script's are not
                error = INTERNAL if reason.startswith(("InternalServerError", "InternalError")) else JOB_FAILED
                raise StatesError(error, f"{kind.lower()} job {failed.get(spec.name_key)!r} "
                                              f"{str(failed.get(spec.status_key)).lower()}: "
                                              f"{failed.get('FailureReason') or 'no reason given'}") from None
            raise
        output = self._output(kind, step, desc)
        if cache.get("Enabled"):  # only a step with caching on is cached, as in SageMaker
            self._remember(key, scope, name, args, str(desc.get(spec.name_key)), output)
        return output

    def _output(self, kind: str, step: dict[str, Any], desc: dict[str, Any]) -> dict[str, Any]:
        out = dict(desc)
        if kind == "Processing" and step.get("PropertyFiles"):
            outputs = {o.get("OutputName"): o.get("S3Output", {}).get("S3Uri")
                       for o in (desc.get("ProcessingOutputConfig") or {}).get("Outputs") or []}
            out["PropertyFiles"] = {f["PropertyFileName"]: store.join(str(outputs.get(f["OutputName"])),
                                                                     f["FilePath"])
                                    for f in step["PropertyFiles"] if outputs.get(f.get("OutputName"))}
        if kind == "Tuning":
            out["TrainingJobSummaries"] = self._ranked_trials(desc)
        return out

    def _ranked_trials(self, desc: dict[str, Any]) -> list[dict[str, Any]]:
        """The tuning job's completed trials, best first (``get_top_model_s3_uri`` indexes them)."""
        objective = ((desc.get("HyperParameterTuningJobConfig") or {}).get("HyperParameterTuningJobObjective")
                     or {})
        trials = [t for t in self.tasks.control.tunings.training_jobs(desc["HyperParameterTuningJobName"])
                  if t.get("TrainingJobStatus") == "Completed" and "FinalHyperParameterTuningJobObjectiveMetric" in t]
        return sorted(trials, key=lambda t: t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                      reverse=objective.get("Type") == "Maximize")

    # -- models -----------------------------------------------------------------------------------
    def _model(self, call: TaskCall, step: dict[str, Any], args: dict[str, Any], scope: dict[str, Any]) -> Any:
        endpoints = self.tasks.control.endpoints
        name = str(args.get("ModelName") or _job_name(scope, str(step["Name"]), call.key, 63))
        request = {**args, "ModelName": name}
        if call.submitted is None:
            from mlyard.workflow.tasks import _checked

            try:
                endpoints.create_model(_checked("CreateModel", request))
            except ConflictError:
                if not call.resumed:
                    raise StatesError(INVALID, f"step {step['Name']!r}: a model named {name!r} exists already; "
                                               "model names are unique") from None
            except MlyardError as exc:
                raise StatesError(INVALID, f"step {step['Name']!r}: createModel: {exc.message}") from None
            call.submit({"ModelName": name})
        try:
            return endpoints.describe_model(name)
        except NotFoundError:
            raise StatesError(TASK_FAILED, f"the model {name!r} this step made is gone") from None

    # -- the model registry -----------------------------------------------------------------------
    def _register(self, call: TaskCall, step: dict[str, Any], args: dict[str, Any], scope: dict[str, Any]) -> Any:
        """A new version in the registry (once: a replay describes the version it made)."""
        registry = self.tasks.control.registry
        execution = str((scope.get("Execution") or {}).get("PipelineExecutionArn"))
        if call.submitted is None and call.resumed:  # registered before a restart, not yet recorded
            made = registry.find(execution, str(step["Name"]))
            if made is not None:
                call.submit({"ModelPackageArn": made})
        if call.submitted is None:
            request = {**args, "SourcePipelineExecutionArn": execution, "SourceStep": step["Name"],
                       "MlyardUser": f"pipeline {(scope.get('Execution') or {}).get('PipelineName')}"}
            try:
                created = registry.create_package(request)
            except MlyardError as exc:
                raise StatesError(INVALID, f"step {step['Name']!r}: CreateModelPackage: {exc.message}") from None
            call.submit({"ModelPackageArn": created["ModelPackageArn"]})
        try:
            return registry.describe_package(str(call.submitted["ModelPackageArn"]))  # type: ignore[index]
        except NotFoundError:
            raise StatesError(TASK_FAILED, "the model package this step registered is gone") from None

    # -- functions -------------------------------------------------------------------------------
    def _lambda(self, call: TaskCall, step: dict[str, Any], args: dict[str, Any]) -> Any:
        """The registered function's result; the declared outputs picked from it by name."""
        name = str(step["Name"])
        invoked = self.tasks._invoke(replace(call, parameters={"FunctionName": step.get("FunctionArn"),
                                                               "Payload": args}), False)
        result = invoked.get("Payload")
        outputs: dict[str, Any] = {}
        kinds: dict[str, Any] = {"String": str, "Integer": int, "Float": (int, float), "Boolean": bool}
        for declared in step.get("OutputParameters") or []:
            key, kind = declared.get("OutputName"), declared.get("OutputType", "String")
            if not isinstance(result, dict) or key not in result:
                raise StatesError(INVALID, f"step {name!r}: the function returned no {key!r} (declared in its "
                                           f"outputs); it returned {json.dumps(result)[:200]}")
            value = result[key]
            expected = kinds.get(kind, str)
            if not isinstance(value, expected) or (kind in ("Integer", "Float") and isinstance(value, bool)):
                raise StatesError(INVALID, f"step {name!r}: output {key!r} is {value!r}, not a {kind}")
            outputs[key] = value
        return {"OutputParameters": outputs}

    # -- caching ----------------------------------------------------------------------------------
    def _cached(self, key: str, expire_after: str | None, spec: Any) -> dict[str, Any] | None:
        try:
            row = self.objects.get(CACHE_KIND, key)
        except NotFoundError:
            return None
        entry: dict[str, Any] = row["spec"]
        if expire_after and time.time() - float(entry["time"]) > _seconds(expire_after):
            return None
        try:  # a job deleted since is not reused
            desc = self.tasks._describe(spec, entry["job"])
        except NotFoundError:
            return None
        if desc.get(spec.status_key) != "Completed":
            return None
        return entry

    def _remember(self, key: str, scope: dict[str, Any], step: str, args: dict[str, Any], job: str,
                  output: dict[str, Any]) -> None:
        entry = {"job": job, "execution": (scope.get("Execution") or {}).get("PipelineExecutionArn"), "step": step,
                 "time": time.time(), "output": output}
        try:
            self.objects.insert(CACHE_KIND, key, entry)
        except ConflictError:
            self.objects.update(CACHE_KIND, key, spec=entry)
        last = _last_key(scope, step)
        try:
            self.objects.insert(CACHE_KIND, last, {"arguments": args, "key": key})
        except ConflictError:
            self.objects.update(CACHE_KIND, last, spec={"arguments": args, "key": key})

    def _miss(self, scope: dict[str, Any], step: str, key: str, args: dict[str, Any]) -> str:
        """Why a cached step runs: the first argument that differs from its last run's."""
        try:
            last = self.objects.get(CACHE_KIND, _last_key(scope, step))["spec"]
        except NotFoundError:
            return "the step has not run before with caching on"
        if last.get("key") == key:
            return "its earlier run has expired, failed or was deleted"
        changed = _difference(last.get("arguments"), args, "Arguments")
        return changed or "its property files changed"


def _read_store(uri: str) -> bytes:
    try:
        return store.read_bytes(uri)
    except (FileNotFoundError, NotFoundError):
        raise FileNotFoundError(uri) from None
    except OSError as exc:
        if not store.exists(uri):
            raise FileNotFoundError(uri) from None
        raise exc


def _cache_key(scope: dict[str, Any], step: dict[str, Any], args: dict[str, Any]) -> str:
    """The same pipeline's same step with the same resolved arguments."""
    text = json.dumps({"Pipeline": (scope.get("Execution") or {}).get("PipelineName"), "Step": step.get("Name"),
                       "Type": step.get("Type"), "Arguments": args, "PropertyFiles": step.get("PropertyFiles")},
                      sort_keys=True, default=str)
    return "k-" + hashlib.sha256(text.encode()).hexdigest()[:56]


def _last_key(scope: dict[str, Any], step: str) -> str:
    pipeline = (scope.get("Execution") or {}).get("PipelineName")
    return "l-" + hashlib.sha256(f"{pipeline}\n{step}".encode()).hexdigest()[:56]


def _difference(old: Any, new: Any, where: str) -> str | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            if k not in old:
                return f"{where}.{k} was added ({_short(new[k])})"
            if k not in new:
                return f"{where}.{k} was removed"
            found = _difference(old[k], new[k], f"{where}.{k}")
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found = _difference(a, b, f"{where}[{i}]")
            if found:
                return found
        return None
    if old != new:
        return f"{where} changed from {_short(old)} to {_short(new)}"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _seconds(duration: str) -> float:
    m = re.match(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", duration)
    if not m:
        return float("inf")
    y, mo, w, d, h, mi, s = (int(g or 0) for g in m.groups())
    return float(dt.timedelta(days=365 * y + 30 * mo + 7 * w + d, hours=h, minutes=mi, seconds=s).total_seconds())


def _job_name(scope: dict[str, Any], step: str, key: str, length: int) -> str:
    """``pipelines-<execution id>-<step>-<digest of the attempt>``, at most ``length`` characters."""
    execution = str((scope.get("Execution") or {}).get("PipelineExecutionId") or "")
    digest = hashlib.sha256(key.encode()).hexdigest()[:6]
    head = re.sub(r"[^A-Za-z0-9-]", "-", f"{execution}-{step}" if length < 40 else f"pipelines-{execution}-{step}")
    return f"{head[:length - 7].rstrip('-')}-{digest}"
