"""SageMaker Pipelines on the control plane: pipelines (their definition JSON, checked), and their
executions, each compiled to a ``Graph`` state machine (``workflow/compile.py``) and run by the
workflow engine: the same executions table, event log, replay after a restart, stop and redrive
(``RetryPipelineExecution``) as a Step Functions workflow's. A pipeline's executions are rows of
the state machine ``pipeline/<name>``, a name no workflow can have."""

from __future__ import annotations

import json
import re
import secrets
import string
import time
from typing import TYPE_CHECKING, Any

from mlyard.catalog import Objects
from mlyard.errors import ConflictError, NotFoundError, ValidationError
from mlyard.server.describe import arn, iso
from mlyard.workflow.compile import _parallelism, check_definition, compile_pipeline, parameter_values

if TYPE_CHECKING:
    from mlyard.server.control import ControlPlane

__all__ = ["Pipelines", "STATUS"]

KIND = "pipeline"
STATUS = {"RUNNING": "Executing", "SUCCEEDED": "Succeeded", "FAILED": "Failed", "TIMED_OUT": "Failed",
          "ABORTED": "Stopped"}
_METADATA = {"Training": ("TrainingJob", "training-job", "TrainingJobName"),
             "Processing": ("ProcessingJob", "processing-job", "ProcessingJobName"),
             "Transform": ("TransformJob", "transform-job", "TransformJobName"),
             "Tuning": ("TuningJob", "hyper-parameter-tuning-job", "HyperParameterTuningJobName"),
             "Model": ("Model", "model", "ModelName"),
             "RegisterModel": ("RegisterModel", "", "ModelPackageArn")}


def _machine(name: str) -> str:
    return f"pipeline/{name}"


def _name(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$", value):
        raise ValidationError(f"pipeline name {value!r} must be 1 to 63 letters, digits or '-' (not first or last)")
    return value


class Pipelines:
    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self.objects = Objects(control.catalog)

    @property
    def workflows(self) -> Any:
        return self.control.workflows

    # -- pipelines --------------------------------------------------------------------------------
    def _spec(self, req: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = dict(base or {})
        if req.get("PipelineDefinition") is not None:
            text = req["PipelineDefinition"]
            try:
                definition = json.loads(text) if isinstance(text, str) else text
            except ValueError as exc:
                raise ValidationError(f"PipelineDefinition is not JSON: {exc}") from None
            spec["definition"] = check_definition(definition)
        _parallelism(req.get("ParallelismConfiguration"), "ParallelismConfiguration")
        for key in ("RoleArn", "PipelineDescription", "PipelineDisplayName", "ParallelismConfiguration"):
            if req.get(key) is not None:
                spec[key] = req[key]
        if "definition" not in spec:
            raise ValidationError("a pipeline needs a PipelineDefinition (the JSON of Pipeline.definition())")
        return spec

    def create(self, req: dict[str, Any]) -> dict[str, Any]:
        name = _name(req.get("PipelineName"))
        spec = self._spec(req)
        spec["Tags"] = req.get("Tags") or []
        spec["version"] = 1
        self.objects.insert(KIND, name, spec, what="pipeline")
        return {"PipelineArn": arn("pipeline", name)}

    def update(self, name: str, req: dict[str, Any]) -> dict[str, Any]:
        row = self.objects.get(KIND, name, "pipeline")
        spec = self._spec(req, row["spec"])
        spec["version"] = int(row["spec"].get("version", 1)) + 1
        self.objects.update(KIND, name, spec=spec)
        return {"PipelineArn": arn("pipeline", name)}

    def describe(self, name: str) -> dict[str, Any]:
        row = self.objects.get(KIND, name, "pipeline")
        spec = row["spec"]
        out = {"PipelineArn": arn("pipeline", name), "PipelineName": name,
               "PipelineDisplayName": spec.get("PipelineDisplayName") or name,
               "PipelineDefinition": json.dumps(spec["definition"]), "PipelineStatus": "Active",
               "RoleArn": spec.get("RoleArn"), "PipelineVersionId": spec.get("version", 1),
               "CreationTime": iso(row["created_at"]), "LastModifiedTime": iso(row["modified_at"])}
        for key in ("PipelineDescription", "ParallelismConfiguration"):
            if spec.get(key) is not None:
                out[key] = spec[key]
        return out

    def list_pipelines(self) -> dict[str, Any]:
        return {"PipelineSummaries": [
            {"PipelineArn": arn("pipeline", r["name"]), "PipelineName": r["name"],
             "PipelineDisplayName": r["spec"].get("PipelineDisplayName") or r["name"],
             "PipelineDescription": r["spec"].get("PipelineDescription"), "RoleArn": r["spec"].get("RoleArn"),
             "CreationTime": iso(r["created_at"]), "LastModifiedTime": iso(r["modified_at"])}
            for r in self.objects.list(KIND)]}

    def delete(self, name: str) -> dict[str, Any]:
        self.objects.get(KIND, name, "pipeline")
        records = self.workflows.records
        for row in records.list_executions(_machine(name), status="RUNNING", limit=None):
            self.workflows.stop_execution(row["id"], "Pipeline.Deleted", "the pipeline was deleted")
        records.delete_executions(_machine(name))
        self.objects.delete(KIND, name)
        return {"PipelineArn": arn("pipeline", name)}

    # -- executions -------------------------------------------------------------------------------
    def start(self, name: str, req: dict[str, Any]) -> dict[str, Any]:
        row = self.objects.get(KIND, name, "pipeline")
        spec = row["spec"]
        definition = spec["definition"]
        given = {}
        for p in req.get("PipelineParameters") or []:
            if not isinstance(p, dict) or not isinstance(p.get("Name"), str) or "Value" not in p:
                raise ValidationError("PipelineParameters are [{'Name': ..., 'Value': ...}]")
            given[p["Name"]] = p["Value"]
        values = parameter_values(definition, given)
        selected, reused, source = None, None, None
        selective = req.get("SelectiveExecutionConfig")
        if selective:
            selected, reused, source = self._selective(name, definition, selective)
        parallelism = req.get("ParallelismConfiguration") or spec.get("ParallelismConfiguration")
        _parallelism(parallelism, "ParallelismConfiguration")
        if parallelism:
            definition = dict(definition, ParallelismConfiguration=parallelism)
        machine = compile_pipeline(definition, selected, reused)
        execution_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))
        now = time.time()
        execution_arn = arn("pipeline", f"{name}/execution/{execution_id}")
        scope = {"Parameters": values, "Execution": {
            "PipelineName": name, "PipelineArn": arn("pipeline", name), "PipelineExecutionId": execution_id,
            "PipelineExecutionArn": execution_arn, "StartDateTime": iso(now)}}
        records = self.workflows.records
        row_id = f"{_machine(name)}:{execution_id}"
        meta = {"DisplayName": req.get("PipelineExecutionDisplayName") or f"execution-{int(now * 1000)}",
                "Description": req.get("PipelineExecutionDescription"), "Version": spec.get("version", 1),
                "SelectiveExecutionConfig": selective, "Source": source, "Parameters": given}
        records.insert_execution({"id": row_id, "state_machine": _machine(name), "name": execution_id,
                                  "status": "RUNNING", "definition": machine, "input": scope})
        records.events.append(row_id, [{"type": "ExecutionStarted", "thread": "", "timestamp": now,
                                        "details": {"input": scope, "roleArn": spec.get("RoleArn"), "pipeline": meta}}])
        self.workflows._run(records.get_execution(row_id))
        return {"PipelineExecutionArn": execution_arn}

    def _selective(self, name: str, definition: dict[str, Any], config: dict[str, Any]
                   ) -> tuple[list[str], dict[str, Any], str]:
        source_arn = config.get("SourcePipelineExecutionArn")
        if not isinstance(config, dict) or not isinstance(config.get("SelectedSteps") or [], list):
            raise ValidationError("SelectiveExecutionConfig is {'SourcePipelineExecutionArn': ..., 'SelectedSteps': "
                                  "[{'StepName': ...}]}")
        chosen = [str(s.get("StepName")) for s in config.get("SelectedSteps") or [] if isinstance(s, dict)]
        if not chosen:
            raise ValidationError("SelectiveExecutionConfig needs SelectedSteps: [{'StepName': ...}]")
        from mlyard.workflow.graph import step_requests

        steps = step_requests(definition)
        for step in chosen:
            if step not in steps:
                raise ValidationError(f"SelectedSteps: step {step!r} is not in pipeline {name!r}")
        if not isinstance(source_arn, str):
            raise ValidationError("SelectiveExecutionConfig needs SourcePipelineExecutionArn: the execution whose "
                                  "outputs the other steps take")
        source = self._row(source_arn)
        if source["state_machine"] != _machine(name):
            raise ValidationError(f"the source execution {source_arn!r} is not an execution of pipeline {name!r}")
        outputs = {s["StepName"]: s["_output"] for s in self._steps(source) if s["StepStatus"] == "Succeeded"}
        return chosen, outputs, source_arn

    def _row(self, execution_arn: str) -> dict[str, Any]:
        prefix = arn("pipeline", "")
        rest = execution_arn[len(prefix):] if execution_arn.startswith(prefix) else ""
        pipeline, _, execution_id = rest.partition("/execution/")
        if not pipeline or not execution_id:
            raise ValidationError(f"{execution_arn!r} is not a pipeline execution's ARN "
                                  f"({prefix}<pipeline>/execution/<id>)")
        try:
            return self.workflows.records.get_execution(f"{_machine(pipeline)}:{execution_id}")
        except NotFoundError:
            raise NotFoundError(f"no pipeline execution {execution_arn!r}") from None

    def describe_execution(self, execution_arn: str) -> dict[str, Any]:
        row = self._row(execution_arn)
        pipeline = row["state_machine"][len("pipeline/"):]
        meta = self._meta(row)
        out: dict[str, Any] = {
            "PipelineArn": arn("pipeline", pipeline), "PipelineExecutionArn": execution_arn,
            "PipelineExecutionDisplayName": meta.get("DisplayName"),
            "PipelineExecutionStatus": STATUS.get(row["status"], row["status"]),
            "PipelineExecutionDescription": meta.get("Description"), "PipelineVersionId": meta.get("Version"),
            "CreationTime": iso(row["started_at"]), "LastModifiedTime": iso(row["modified_at"]),
            "PipelineParameters": [{"Name": k, "Value": v} for k, v in (row["input"] or {}).get("Parameters",
                                                                                                 {}).items()]}
        if meta.get("SelectiveExecutionConfig"):
            out["SelectiveExecutionConfig"] = meta["SelectiveExecutionConfig"]
        if row["status"] in ("FAILED", "TIMED_OUT"):
            out["FailureReason"] = f"{row['error']}: {row['cause']}" if row["cause"] else row["error"]
        return out

    def _meta(self, row: dict[str, Any]) -> dict[str, Any]:
        """What the execution was started with (its first event holds it)."""
        first = self.workflows.records.events.list(row["id"], limit=1)
        meta: dict[str, Any] = (first[0]["details"].get("pipeline") or {}) if first else {}
        return meta

    def list_executions(self, name: str, limit: int = 100) -> dict[str, Any]:
        self.objects.get(KIND, name, "pipeline")
        rows = self.workflows.records.list_executions(_machine(name), None, limit)
        return {"PipelineExecutionSummaries": [
            {"PipelineExecutionArn": arn("pipeline", f"{name}/execution/{r['name']}"),
             "StartTime": iso(r["started_at"]), "PipelineExecutionStatus": STATUS.get(r["status"], r["status"])}
            for r in rows]}

    def list_steps(self, execution_arn: str) -> dict[str, Any]:
        row = self._row(execution_arn)
        steps = [{k: v for k, v in s.items() if not k.startswith("_")} for s in self._steps(row)]
        return {"PipelineExecutionSteps": sorted(steps, key=lambda s: s.get("StartTime") or "", reverse=True)}

    def _steps(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """Each step that started, from the execution's events."""
        nodes = row["definition"]["States"]["Pipeline"]["Nodes"]
        events = self.workflows.records.events.list(row["id"])
        meta = (events[0]["details"].get("pipeline") or {}) if events else {}
        found: dict[str, dict[str, Any]] = {}
        for e in events:
            thread = e["thread"]
            if not thread.startswith("/Pipeline#"):
                continue
            step = thread.split("/", 2)[2]
            state = nodes[step]["Machine"]["States"][step]
            kind = nodes[step].get("StepType")
            s = found.setdefault(step, {"StepName": step, "StepType": kind, "StepStatus": "Executing",
                                        "StartTime": iso(e["timestamp"]), "AttemptCount": 0, "Metadata": {}})
            d = e["details"]
            t = e["type"]
            if t == "TaskScheduled":
                s["AttemptCount"] += 1
                s["StepStatus"] = "Executing"
                s.pop("FailureReason", None)
            elif t == "TaskSubmitted":
                info = d.get("output") or {}
                if kind in _METADATA:
                    field, arn_kind, name_key = _METADATA[kind]
                    if info.get(name_key):
                        s["Metadata"][field] = {"Arn": arn(arn_kind, info[name_key]) if arn_kind
                                                else info[name_key]}
                if info.get("CacheHit"):
                    s["CacheHitResult"] = {"SourcePipelineExecutionArn": info["CacheHit"]["SourcePipelineExecutionArn"]}
                if info.get("CacheMiss"):
                    s["CacheMissReason"] = info["CacheMiss"]
            elif t in ("TaskFailed", "TaskTimedOut"):
                s["StepStatus"] = "Failed"
                s["FailureReason"] = d.get("cause") or d.get("error")
                s["EndTime"] = iso(e["timestamp"])
                if kind == "Fail":
                    s["Metadata"]["Fail"] = {"ErrorMessage": d.get("cause")}
            elif t == "FailStateEntered":  # a step not selected, with no output to reuse
                s["StepStatus"] = "Failed"
                s["FailureReason"] = state.get("Cause")
                s["EndTime"] = iso(e["timestamp"])
            elif t in ("TaskStateExited", "PassStateExited"):
                s["StepStatus"] = "Succeeded"
                s["EndTime"] = iso(e["timestamp"])
                s["_output"] = d.get("output")
                s.pop("FailureReason", None)
                if kind == "Condition":
                    s["Metadata"]["Condition"] = {"Outcome": str(bool((d.get("output") or {}).get("Outcome")))
                                                  .lower()}
                if t == "PassStateExited":
                    s["SelectiveExecutionResult"] = {"SourcePipelineExecutionArn": meta.get("Source")}
        if row["status"] != "RUNNING":  # ended: a step still executing was let go of
            for s in found.values():
                if s["StepStatus"] == "Executing":
                    s["StepStatus"] = "Stopped"
        return list(found.values())

    def stop(self, execution_arn: str) -> dict[str, Any]:
        row = self._row(execution_arn)
        if row["status"] != "RUNNING":
            raise ConflictError(f"pipeline execution {execution_arn!r} has ended "
                                f"({STATUS.get(row['status'])}); there is nothing to stop")
        self.workflows.stop_execution(row["id"], "Pipeline.Stopped", "the execution was stopped")
        return {"PipelineExecutionArn": execution_arn}

    def retry(self, execution_arn: str) -> dict[str, Any]:
        """Run a failed or stopped execution again from the steps that did not succeed."""
        row = self._row(execution_arn)
        if row["status"] not in ("FAILED", "ABORTED", "TIMED_OUT"):
            raise ConflictError(f"pipeline execution {execution_arn!r} is {STATUS.get(row['status'])}: only a failed "
                                "or stopped execution can be retried")
        self.workflows.redrive(row["state_machine"], row["name"])
        return {"PipelineExecutionArn": execution_arn}
