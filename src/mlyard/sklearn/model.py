"""``SKLearnModel`` and ``SKLearnPredictor`` (SageMaker's ``sagemaker.sklearn``)."""

from __future__ import annotations

from mlyard.deserializers import NumpyDeserializer
from mlyard.model import FrameworkModel
from mlyard.predictor import Predictor
from mlyard.serializers import NumpySerializer

__all__ = ["SKLearnModel", "SKLearnPredictor"]


class SKLearnPredictor(Predictor):
    _serializer = NumpySerializer
    _deserializer = NumpyDeserializer


class SKLearnModel(FrameworkModel):
    _framework = "sklearn"
    _default_predictor = SKLearnPredictor
