"""``TensorFlowModel`` and ``TensorFlowPredictor`` (SageMaker's ``sagemaker.tensorflow``)."""

from __future__ import annotations

from typing import Any

from mlyard.deserializers import JSONDeserializer
from mlyard.model import FrameworkModel
from mlyard.predictor import Predictor
from mlyard.serializers import JSONSerializer

__all__ = ["TensorFlowModel", "TensorFlowPredictor"]


class TensorFlowPredictor(Predictor):
    """JSON in, JSON out: ``predict(x)["predictions"]``, as TensorFlow Serving answers."""

    _serializer = JSONSerializer
    _deserializer = JSONDeserializer


class TensorFlowModel(FrameworkModel):
    """SageMaker's positional order: ``TensorFlowModel(model_data, role, entry_point, image_uri,
    framework_version, container_log_level, predictor_cls, **kwargs)``."""

    _framework = "tensorflow"
    _default_predictor = TensorFlowPredictor

    def __init__(self, model_data: str | None = None, role: str | None = None, entry_point: str | None = None,
                 image_uri: str | None = None, framework_version: str | None = None,
                 container_log_level: int | None = None, predictor_cls: type[Predictor] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(model_data=model_data, image_uri=image_uri, role=role, entry_point=entry_point,
                         framework_version=framework_version, predictor_cls=predictor_cls, **kwargs)
