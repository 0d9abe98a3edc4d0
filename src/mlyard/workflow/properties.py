"""Step properties (SageMaker Pipelines' ``sagemaker.workflow.properties``): a step's description,
known when it has run, referred to by path: ``step.properties.ModelArtifacts.S3ModelArtifacts`` is
``{"Get": "Steps.<step>.ModelArtifacts.S3ModelArtifacts"}``, and ``...Outputs['train']`` indexes a
list by its name. A path is any chain of the description's fields (checked when the pipeline
runs); ``PropertyFile`` names a JSON file a processing step writes, for ``JsonGet``."""

from __future__ import annotations

from typing import Any

from mlyard.workflow.entities import Entity, PipelineVariable

__all__ = ["Properties", "PropertyFile"]


class Properties(PipelineVariable):
    def __init__(self, step_name: str, path: str = "") -> None:
        self._step_name = step_name
        self._path = path

    @property
    def expr(self) -> dict[str, str]:
        return {"Get": f"Steps.{self._step_name}" + (f".{self._path}" if self._path else "")}

    @property
    def step_name(self) -> str:
        return self._step_name

    def __getattr__(self, name: str) -> Properties:
        if name.startswith("_"):
            raise AttributeError(name)
        return Properties(self._step_name, f"{self._path}.{name}" if self._path else name)

    def __getitem__(self, key: Any) -> Properties:
        index = f"[{key}]" if isinstance(key, int) and not isinstance(key, bool) else f"['{key}']"
        return Properties(self._step_name, f"{self._path}{index}")


class PropertyFile(Entity):
    """``name``: what ``JsonGet`` calls it; ``output_name``: the processing output holding it;
    ``path``: the file, relative to that output."""

    def __init__(self, name: str, output_name: str, path: str) -> None:
        self.name = name
        self.output_name = output_name
        self.path = path

    @property
    def expr(self) -> dict[str, str]:
        return {"PropertyFileName": self.name, "OutputName": self.output_name, "FilePath": self.path}

    def to_request(self) -> dict[str, str]:
        return self.expr
