"""``LineageTableVisualizer`` (SageMaker's ``sagemaker.lineage.visualizer``): the artifacts a job (or
a pipeline execution's step) consumed and produced, as a table."""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError

__all__ = ["LineageTableVisualizer"]

_STEP_ENTITIES = ("TrainingJob", "ProcessingJob", "TransformJob", "Model", "TuningJob")


class LineageTableVisualizer:
    def __init__(self, sagemaker_session: Any = None) -> None:
        from mlyard.session import Session

        self._session = sagemaker_session or Session()

    def show(self, trial_component_name: str | None = None, training_job_name: str | None = None,
             processing_job_name: str | None = None, pipeline_execution_step: dict[str, Any] | None = None,
             model_package_arn: str | None = None, endpoint_arn: str | None = None,
             artifact_arn: str | None = None, context_arn: str | None = None, actions_arn: str | None = None
             ) -> Any:
        """A pandas DataFrame: Name/Source, Direction (Input/Output), Type, Association Type,
        Lineage Type, one row per artifact."""
        import pandas as pd

        target = None
        if training_job_name:
            target = f"training-job/{training_job_name}"
        elif processing_job_name:
            target = f"processing-job/{processing_job_name}"
        elif model_package_arn:
            target = model_package_arn
        elif endpoint_arn:
            target = endpoint_arn
        elif pipeline_execution_step is not None:
            meta = pipeline_execution_step.get("Metadata") or {}
            found = next((meta[k]["Arn"] for k in _STEP_ENTITIES if k in meta), None)
            if found is None and "RegisterModel" in meta:
                found = meta["RegisterModel"]["Arn"]
            if found is None:
                raise ValidationError(f"step {pipeline_execution_step.get('StepName')!r} ran no job and made no "
                                      "model: it has no lineage")
            target = found
        if target is None:
            raise ValidationError("give training_job_name, processing_job_name, pipeline_execution_step, "
                                  "model_package_arn or endpoint_arn")
        rows = self._session.client.lineage(arn=target)["Rows"]
        columns = ["Name/Source", "Direction", "Type", "Association Type", "Lineage Type"]
        return pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
