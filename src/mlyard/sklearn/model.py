"""``SKLearnModel`` and ``SKLearnPredictor`` (SageMaker's ``sagemaker.sklearn``)."""

from __future__ import annotations

from typing import Any

from mlyard.deserializers import NumpyDeserializer
from mlyard.model import FrameworkModel
from mlyard.predictor import Predictor
from mlyard.serializers import NumpySerializer

__all__ = ["SKLearnModel", "SKLearnPredictor"]


class SKLearnPredictor(Predictor):
    _serializer = NumpySerializer
    _deserializer = NumpyDeserializer


class SKLearnModel(FrameworkModel):
    """SageMaker's positional order: ``SKLearnModel(model_data, role, entry_point, framework_version,
    py_version, image_uri, predictor_cls, model_server_workers, **kwargs)``."""

    _framework = "sklearn"
    _default_predictor = SKLearnPredictor

    def __init__(self, model_data: str | None = None, role: str | None = None, entry_point: str | None = None,
                 framework_version: str | None = None, py_version: str | None = "py3",
                 image_uri: str | None = None, predictor_cls: type[Predictor] | None = None,
                 model_server_workers: int | None = None, **kwargs: Any) -> None:
        super().__init__(model_data=model_data, image_uri=image_uri, role=role, entry_point=entry_point,
                         framework_version=framework_version, py_version=py_version, predictor_cls=predictor_cls,
                         model_server_workers=model_server_workers, **kwargs)
