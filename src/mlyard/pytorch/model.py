"""``PyTorchModel`` and ``PyTorchPredictor`` (SageMaker's ``sagemaker.pytorch``)."""

from __future__ import annotations

from typing import Any

from mlyard.deserializers import NumpyDeserializer
from mlyard.model import FrameworkModel
from mlyard.predictor import Predictor
from mlyard.serializers import NumpySerializer

__all__ = ["PyTorchModel", "PyTorchPredictor"]


class PyTorchPredictor(Predictor):
    _serializer = NumpySerializer
    _deserializer = NumpyDeserializer


class PyTorchModel(FrameworkModel):
    """SageMaker's positional order: ``PyTorchModel(model_data, role, entry_point, framework_version,
    py_version, image_uri, predictor_cls, model_server_workers, **kwargs)``."""

    _framework = "pytorch"
    _default_predictor = PyTorchPredictor

    def __init__(self, model_data: str | None = None, role: str | None = None, entry_point: str | None = None,
                 framework_version: str | None = None, py_version: str | None = None,
                 image_uri: str | None = None, predictor_cls: type[Predictor] | None = None,
                 model_server_workers: int | None = None, **kwargs: Any) -> None:
        super().__init__(model_data=model_data, image_uri=image_uri, role=role, entry_point=entry_point,
                         framework_version=framework_version, py_version=py_version, predictor_cls=predictor_cls,
                         model_server_workers=model_server_workers, **kwargs)
