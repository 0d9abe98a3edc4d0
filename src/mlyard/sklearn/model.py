"""``SKLearnModel`` and ``SKLearnPredictor`` (SageMaker's ``sagemaker.sklearn``)."""

from __future__ import annotations

from typing import Any

from mlyard.deserializers import NumpyDeserializer
from mlyard.model import FrameworkModel
from mlyard.predictor import Predictor
from mlyard.serializers import NumpySerializer
from mlyard.session import Session

__all__ = ["SKLearnModel", "SKLearnPredictor"]


class SKLearnPredictor(Predictor):
    def __init__(self, endpoint_name: str, sagemaker_session: Session | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", NumpySerializer())
        kwargs.setdefault("deserializer", NumpyDeserializer())
        super().__init__(endpoint_name, sagemaker_session, **kwargs)


class SKLearnModel(FrameworkModel):
    _framework = "sklearn"
    _default_predictor = SKLearnPredictor
