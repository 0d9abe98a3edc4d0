"""``TensorFlow``: script-mode training with TensorFlow 2 (SageMaker's ``sagemaker.tensorflow``)."""

from __future__ import annotations

from typing import Any

from mlyard.estimator import Framework

__all__ = ["TensorFlow"]


class TensorFlow(Framework):
    """Scripts for ``framework_version`` below 2.16 run with Keras 2 (tf-keras), so their
    ``model.save(dir)`` still writes a SavedModel."""

    _framework = "tensorflow"
    _model_cls = "mlyard.tensorflow.model.TensorFlowModel"
    _default_base_name = "tensorflow-training"

    def __init__(self, py_version: str | None = None, framework_version: str | None = None,
                 model_dir: str | bool | None = None, image_uri: str | None = None,
                 distribution: dict[str, Any] | None = None, compiler_config: Any = None, **kwargs: Any) -> None:
        self.model_dir = model_dir
        super().__init__(py_version=py_version, framework_version=framework_version, image_uri=image_uri,
                         distribution=distribution, compiler_config=compiler_config, **kwargs)

    def _framework_hyperparameters(self, job_name: str | None, program: str, submit: str) -> dict[str, Any]:
        hps = super()._framework_hyperparameters(job_name, program, submit)
        if self.model_dir is not False:
            # Local jobs save where SM_MODEL_DIR points; the runner maps /opt/ml to the job's root.
            hps["model_dir"] = self.model_dir or "/opt/ml/model"
        return hps


    @classmethod
    def _init_params_from_job(cls, desc: dict[str, Any]) -> dict[str, Any]:
        params = super()._init_params_from_job(desc)
        params["model_dir"] = params["hyperparameters"].pop("model_dir", False)
        return params
