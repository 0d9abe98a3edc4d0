"""Functions of pipeline variables (SageMaker Pipelines' ``sagemaker.workflow.functions``):
``Join`` (strings) and ``JsonGet`` (a value of a JSON file a processing step wrote)."""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow.entities import PipelineVariable, primitive_or_expr

__all__ = ["Join", "JsonGet"]


class Join(PipelineVariable):
    """``values`` (strings, numbers, variables) joined with ``on`` when the pipeline runs."""

    def __init__(self, on: str = "", values: list[Any] | None = None) -> None:
        self.on = on
        self.values = list(values or [])

    @property
    def expr(self) -> dict[str, Any]:
        return {"Std:Join": {"On": self.on, "Values": [primitive_or_expr(v) for v in self.values]}}


class JsonGet(PipelineVariable):
    """The value at ``json_path`` of the property file ``property_file`` that the processing step
    ``step_name`` (or ``step``) wrote; or of the JSON object at ``s3_uri``."""

    def __init__(self, step_name: str | None = None, property_file: Any = None, json_path: str | None = None,
                 s3_uri: Any = None, step: Any = None) -> None:
        if step is not None:
            step_name = step.name
        if not json_path:
            raise ValidationError("JsonGet needs a json_path (like 'regression_metrics.mse.value')")
        if s3_uri is None and (not step_name or property_file is None):
            raise ValidationError("JsonGet needs step_name (or step) and property_file, or s3_uri")
        self.step_name = step_name
        self.property_file = property_file
        self.json_path = json_path
        self.s3_uri = s3_uri

    @property
    def expr(self) -> dict[str, Any]:
        if self.s3_uri is not None:
            return {"Std:JsonGet": {"S3Uri": primitive_or_expr(self.s3_uri), "Path": self.json_path}}
        name = self.property_file if isinstance(self.property_file, str) else self.property_file.name
        return {"Std:JsonGet": {"PropertyFile": {"Get": f"Steps.{self.step_name}.PropertyFiles.{name}"},
                                "Path": self.json_path}}
