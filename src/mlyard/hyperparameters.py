"""How hyperparameters travel: each value JSON-encoded into a string (SageMaker's framework
convention), decoded by the runner for the script and by the SDK when it reads a job back.
Standard library only: the SDK, the control plane and runners all import it."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["RESERVED_HYPERPARAMETERS", "encode_hyperparameters", "decode_hyperparameters",
           "split_hyperparameters"]

RESERVED_HYPERPARAMETERS = frozenset({
    "sagemaker_program", "sagemaker_submit_directory", "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region", "sagemaker_container_log_level", "sagemaker_job_name",
    "default_user_module_name", "_tuning_objective_metric", "sagemaker_s3_output",
})


def encode_hyperparameters(hps: dict[str, Any]) -> dict[str, Any]:
    """Each value JSON-encoded, as a request carries them (a pipeline variable: as the string it is
    when the pipeline runs)."""
    from mlyard.workflow.entities import PipelineVariable

    return {str(k): v.to_string() if isinstance(v, PipelineVariable) else json.dumps(v) for k, v in hps.items()}


def decode_hyperparameters(raw: dict[str, str]) -> dict[str, Any]:
    """JSON-decode each value, keeping the raw string where it is not JSON."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def split_hyperparameters(decoded: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(user hyperparameters, reserved framework parameters, other ``sagemaker_*`` parameters)."""
    user, reserved, extra = {}, {}, {}
    for key, value in decoded.items():
        if key in RESERVED_HYPERPARAMETERS:
            reserved[key] = value
        elif key.startswith("sagemaker_"):
            extra[key] = value
        else:
            user[key] = value
    return user, reserved, extra
