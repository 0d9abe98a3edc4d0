"""``PyTorch``: script-mode training with PyTorch (SageMaker's ``sagemaker.pytorch``)."""

from __future__ import annotations

from typing import Any

from mlyard.estimator import Framework

__all__ = ["PyTorch"]


class PyTorch(Framework):
    """SageMaker's positional order: ``PyTorch(entry_point, framework_version, py_version,
    source_dir, hyperparameters, image_uri, distribution, compiler_config, **kwargs)``."""

    _framework = "pytorch"
    _model_cls = "mlyard.pytorch.model.PyTorchModel"
    _serves_with_training_code = True
    _default_base_name = "pytorch-training"

    def __init__(self, entry_point: str, framework_version: str | None = None, py_version: str | None = None,
                 source_dir: str | None = None, hyperparameters: dict[str, Any] | None = None,
                 image_uri: str | None = None, distribution: dict[str, Any] | None = None,
                 compiler_config: Any = None, **kwargs: Any) -> None:
        super().__init__(entry_point=entry_point, source_dir=source_dir, hyperparameters=hyperparameters,
                         framework_version=framework_version, py_version=py_version, image_uri=image_uri,
                         distribution=distribution, compiler_config=compiler_config, **kwargs)
