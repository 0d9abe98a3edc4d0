"""``TensorFlowModel`` and ``TensorFlowPredictor`` (SageMaker's ``sagemaker.tensorflow``)."""

from __future__ import annotations

from typing import Any

from mlyard.deserializers import JSONDeserializer
from mlyard.model import FrameworkModel
from mlyard.predictor import Predictor
from mlyard.serializers import JSONSerializer
from mlyard.session import Session

__all__ = ["TensorFlowModel", "TensorFlowPredictor"]


class TensorFlowPredictor(Predictor):
    """JSON in, JSON out: ``predict(x)["predictions"]``, as TensorFlow Serving answers."""

    def __init__(self, endpoint_name: str, sagemaker_session: Session | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", JSONSerializer())
        kwargs.setdefault("deserializer", JSONDeserializer())
        super().__init__(endpoint_name, sagemaker_session, **kwargs)


class TensorFlowModel(FrameworkModel):
    _framework = "tensorflow"
    _default_predictor = TensorFlowPredictor
