"""Serial inference pipelines (SageMaker's ``sagemaker.pipeline``): one model of several
containers, each container's response the next one's request, served by one endpoint."""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError
from mlyard.model import Model
from mlyard.predictor import Predictor
from mlyard.session import Session
from mlyard.validation import check_name

__all__ = ["PipelineModel"]


class PipelineModel(Model):
    """``models`` (2 to 15), served in order behind one endpoint (``deploy``) or one transform job
    (``transformer``)."""

    def __init__(self, models: list[Model], role: str | None = None, predictor_cls: type[Predictor] | None = None,
                 name: str | None = None, vpc_config: dict[str, Any] | None = None,
                 sagemaker_session: Session | None = None, enable_network_isolation: bool | None = None) -> None:
        models = list(models or [])
        if not models or len(models) > 15 or not all(isinstance(m, Model) for m in models):
            raise ValidationError("a PipelineModel takes a list of 1 to 15 models (Model, SKLearnModel, "
                                  "TensorFlowModel, ...), in the order requests pass through them")
        self.models = models
        self.role = role
        self.predictor_cls = predictor_cls or Predictor
        self.name = name
        self.vpc_config = vpc_config
        self.enable_network_isolation = enable_network_isolation
        self.sagemaker_session = sagemaker_session or models[0].sagemaker_session or Session()
        self.endpoint_name: str | None = None
        self.entry_point = None
        self.env: dict[str, str] = {}
        self._framework = None

    def _base_name(self) -> str:
        return "pipeline-model"

    def _pack(self) -> list[Any]:
        return [m._pack() for m in self.models]

    def _request(self, name: str | None, source: Any) -> dict[str, Any]:
        """CreateModel with ``Containers``: each model's container (its model data, environment and
        code), in order. ``source``: what ``_pack`` gave."""
        if name is not None:
            check_name("model name", name)
        return {"ModelName": name, "ExecutionRoleArn": self.role, "Containers": self._containers(source),
                "MlyardConfig": {"BaseName": self._base_name()}}

    def _containers(self, sources: list[Any]) -> list[dict[str, Any]]:
        containers = []
        for model, packed in zip(self.models, sources, strict=True):
            request = model._request(None, packed)
            container = dict(request["PrimaryContainer"])
            code = (request.get("MlyardConfig") or {}).get("SourceUrl")
            if code:
                container["SourceUrl"] = code
            containers.append(container)
        return containers
