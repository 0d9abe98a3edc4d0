"""``TensorFlowModel`` and ``TensorFlowPredictor`` (SageMaker's ``sagemaker.tensorflow``)."""

from __future__ import annotations

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
    _framework = "tensorflow"
    _default_predictor = TensorFlowPredictor
