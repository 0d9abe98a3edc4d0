"""``SKLearn``: script-mode training with scikit-learn (SageMaker's ``sagemaker.sklearn``)."""

from __future__ import annotations

from typing import Any

from mlyard.estimator import Framework

__all__ = ["SKLearn"]


class SKLearn(Framework):
    _framework = "sklearn"
    _model_cls = "mlyard.sklearn.model.SKLearnModel"
    _serves_with_training_code = True
    _default_base_name = "sagemaker-scikit-learn"

    def __init__(self, entry_point: str, framework_version: str | None = None, py_version: str = "py3",
                 source_dir: str | None = None, hyperparameters: dict[str, Any] | None = None,
                 image_uri: str | None = None, image_uri_region: str | None = None, **kwargs: Any) -> None:
        super().__init__(entry_point=entry_point, framework_version=framework_version, py_version=py_version,
                         source_dir=source_dir, hyperparameters=hyperparameters, image_uri=image_uri, **kwargs)
