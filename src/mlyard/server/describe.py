"""Catalog rows as SageMaker-shaped descriptions (``DescribeTrainingJob``...)."""

from __future__ import annotations

from typing import Any

__all__ = ["arn", "job", "status", "summary", "iso"]


def status(desc: dict[str, Any]) -> str:
    """The status in any description: ``TrainingJobStatus``, ``HyperParameterTuningJobStatus``..."""
    return next(v for k, v in desc.items() if k.endswith("JobStatus"))


def arn(kind: str, name: str) -> str:
    """An ARN-shaped identifier, as SageMaker's descriptions carry: ``arn:mlyard:local:KIND/NAME``."""
    return f"arn:mlyard:local:{kind}/{name}"


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat()


def _transitions(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for ev in events:
        if out and out[-1]["Status"] == ev["secondary_status"]:
            continue
        if out:
            out[-1]["EndTime"] = iso(ev["time"])
        out.append({"Status": ev["secondary_status"], "StartTime": iso(ev["time"]), "StatusMessage": ev["message"]})
    return out


def job(row: dict[str, Any], events: list[dict[str, Any]], final_metrics: list[dict[str, Any]],
        placement: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A job's description; ``placement`` (the executor's word on where each host runs, if it has
    one) becomes ``MlyardPlacement``."""
    if row["kind"] == "training":
        out = _training(row, events, final_metrics)
    elif row["kind"] == "processing":
        out = _processing(row, events, final_metrics)
    elif row["kind"] == "transform":
        out = _transform(row, events, final_metrics)
    else:
        raise ValueError(f"unknown job kind {row['kind']!r}")
    if placement:
        out["MlyardPlacement"] = placement
    return out


def _common(row: dict[str, Any], events: list[dict[str, Any]], final_metrics: list[dict[str, Any]]
            ) -> dict[str, Any]:
    result = row["result"]
    out: dict[str, Any] = {
        "SecondaryStatus": row["secondary_status"],
        "CreationTime": iso(row["created_at"]),
        "LastModifiedTime": iso(row["modified_at"]),
        "SecondaryStatusTransitions": _transitions(events),
        "FinalMetricDataList": [{"MetricName": m["name"], "Value": m["value"], "Timestamp": iso(m["timestamp"])}
                                for m in final_metrics],
        "Warnings": result.get("warnings") or [],
        "JobDirectory": row["job_dir"],
        "MlyardConfig": row["spec"].get("MlyardConfig") or {},
    }
    if row["failure_reason"]:
        out["FailureReason"] = row["failure_reason"]
    if row["allocation"]:
        out["Allocation"] = row["allocation"]
    return out


def _times(out: dict[str, Any], kind: str, row: dict[str, Any]) -> None:
    """``<Kind>StartTime`` and ``<Kind>EndTime``, once the job has them."""
    if row["started_at"]:
        out[f"{kind}StartTime"] = iso(row["started_at"])
    if row["ended_at"]:
        out[f"{kind}EndTime"] = iso(row["ended_at"])


def _transform(row: dict[str, Any], events: list[dict[str, Any]], final_metrics: list[dict[str, Any]]
               ) -> dict[str, Any]:
    spec = row["spec"]
    name = row["name"]
    out: dict[str, Any] = {
        "TransformJobName": name,
        "TransformJobArn": arn("transform-job", name),
        "TransformJobStatus": row["status"],
        "ModelName": spec["ModelName"],
        **{k: spec.get(k) for k in ("MaxConcurrentTransforms", "MaxPayloadInMB", "BatchStrategy", "Environment",
                                    "TransformInput", "TransformOutput", "TransformResources", "DataProcessing")},
        **_common(row, events, final_metrics),
    }
    _times(out, "Transform", row)
    return out


def _processing(row: dict[str, Any], events: list[dict[str, Any]], final_metrics: list[dict[str, Any]]
                ) -> dict[str, Any]:
    spec, result = row["spec"], row["result"]
    name = row["name"]
    out: dict[str, Any] = {
        "ProcessingJobName": name,
        "ProcessingJobArn": arn("processing-job", name),
        "ProcessingJobStatus": row["status"],
        "ProcessingInputs": spec.get("ProcessingInputs") or [],
        "ProcessingOutputConfig": spec.get("ProcessingOutputConfig") or {"Outputs": []},
        "ProcessingResources": spec.get("ProcessingResources") or {},
        "StoppingCondition": spec.get("StoppingCondition") or {},
        "AppSpecification": spec.get("AppSpecification") or {},
        "Environment": spec.get("Environment") or {},
        "RoleArn": spec.get("RoleArn"),
        **_common(row, events, final_metrics),
    }
    if result.get("exit_message"):
        out["ExitMessage"] = result["exit_message"]
    if result.get("events"):
        out["Events"] = result["events"]
    _times(out, "Processing", row)
    return out


def _training(row: dict[str, Any], events: list[dict[str, Any]], final_metrics: list[dict[str, Any]]
              ) -> dict[str, Any]:
    spec, result = row["spec"], row["result"]
    name = row["name"]
    out: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": arn("training-job", name),
        "TrainingJobStatus": row["status"],
        "HyperParameters": spec.get("HyperParameters") or {},
        "AlgorithmSpecification": spec.get("AlgorithmSpecification") or {},
        "RoleArn": spec.get("RoleArn"),
        "InputDataConfig": [_as_given(ch) for ch in spec.get("InputDataConfig") or []],
        "OutputDataConfig": spec.get("OutputDataConfig") or {},
        "ResourceConfig": spec.get("ResourceConfig") or {},
        "StoppingCondition": spec.get("StoppingCondition") or {},
        "Environment": spec.get("Environment") or {},
        **_common(row, events, final_metrics),
    }
    if spec.get("CheckpointConfig"):
        out["CheckpointConfig"] = spec["CheckpointConfig"]
    if row.get("parent"):
        out["TuningJobArn"] = arn("hyper-parameter-tuning-job", row["parent"])
    _times(out, "Training", row)
    if row["ended_at"] and row["started_at"]:
        seconds = max(0, int(round(row["ended_at"] - row["started_at"])))
        out["TrainingTimeInSeconds"] = out["BillableTimeInSeconds"] = seconds
    if result.get("model_artifacts"):
        out["ModelArtifacts"] = {"S3ModelArtifacts": result["model_artifacts"]}
    if result.get("output_artifacts"):
        out["OutputArtifacts"] = {"S3OutputArtifacts": result["output_artifacts"]}
    return out


def summary(row: dict[str, Any]) -> dict[str, Any]:
    spec = row["spec"]
    resources = (spec.get("ResourceConfig") or (spec.get("ProcessingResources") or {}).get("ClusterConfig")
                 or spec.get("TransformResources") or {})
    return {
        "JobName": row["name"],
        "JobArn": arn(f"{row['kind']}-job", row["name"]),
        "Kind": row["kind"],
        "Status": row["status"],
        "SecondaryStatus": row["secondary_status"],
        "InstanceType": resources.get("InstanceType"),
        "InstanceCount": resources.get("InstanceCount"),
        "CreationTime": iso(row["created_at"]),
        "LastModifiedTime": iso(row["modified_at"]),
        "EndTime": iso(row["ended_at"]),
        "FailureReason": row["failure_reason"],
    }


def _as_given(channel: dict[str, Any]) -> dict[str, Any]:
    """A channel as its creator gave it: a ``FileSystemDataSource`` channel without the
    ``S3DataSource`` of its folder that the control plane adds for the runner."""
    source = channel.get("DataSource") or {}
    if source.get("FileSystemDataSource") is None:
        return channel
    return {**channel, "DataSource": {"FileSystemDataSource": source["FileSystemDataSource"]}}
