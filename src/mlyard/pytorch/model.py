"""``PyTorchModel`` and ``PyTorchPredictor`` (SageMaker's ``sagemaker.pytorch``)."""

from __future__ import annotations

from mlyard.deserializers import NumpyDeserializer
from mlyard.model import FrameworkModel
from mlyard.predictor import Predictor
from mlyard.serializers import NumpySerializer

__all__ = ["PyTorchModel", "PyTorchPredictor"]


class PyTorchPredictor(Predictor):
    _serializer = NumpySerializer
    _deserializer = NumpyDeserializer


class PyTorchModel(FrameworkModel):
    _framework = "pytorch"
    _default_predictor = PyTorchPredictor
