"""``PyTorchModel`` and ``PyTorchPredictor`` (SageMaker's ``sagemaker.pytorch``)."""

from __future__ import annotations

from typing import Any

from mlyard.deserializers import NumpyDeserializer
from mlyard.model import FrameworkModel
from mlyard.predictor import Predictor
from mlyard.serializers import NumpySerializer
from mlyard.session import Session

__all__ = ["PyTorchModel", "PyTorchPredictor"]


class PyTorchPredictor(Predictor):
    def __init__(self, endpoint_name: str, sagemaker_session: Session | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", NumpySerializer())
        kwargs.setdefault("deserializer", NumpyDeserializer())
        super().__init__(endpoint_name, sagemaker_session, **kwargs)


class PyTorchModel(FrameworkModel):
    _framework = "pytorch"
    _default_predictor = PyTorchPredictor
