"""Step collections (SageMaker Pipelines' ``sagemaker.workflow.step_collections``): ``RegisterModel``
registers a model version in the model registry when the pipeline runs. A collection stands in a
pipeline's steps (and a condition's branches) for its steps; ``depends_on`` a collection waits for
all of them."""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow.steps import Step, StepTypeEnum, _JobStep

__all__ = ["StepCollection", "RegisterModel"]


class StepCollection:
    def __init__(self, name: str, steps: list[Step], depends_on: list[Any] | None = None) -> None:
        self.name = name
        self.steps = list(steps)
        self.depends_on = list(depends_on or [])

    @property
    def properties(self) -> Any:
        return self.steps[-1].properties

    def request_dicts(self) -> list[dict[str, Any]]:
        return [s.to_request() for s in self.steps]


class _RegisterModelStep(_JobStep):
    _kind = "model-package"

    def __init__(self, name: str, step_args: Any, call: Any, depends_on: list[Any] | None,
                 retry_policies: list[Any] | None, display_name: str | None, description: str | None) -> None:
        super().__init__(name, StepTypeEnum.REGISTER_MODEL, step_args, call, display_name, description, None,
                         depends_on, retry_policies)


class RegisterModel(StepCollection):
    """Register ``model`` (or ``estimator``'s model of ``model_data``) as a version of
    ``model_package_group_name``, with ``approval_status`` (a value or a pipeline parameter) and
    ``model_metrics``. Its step is ``<name>-RegisterModel``; ``properties.ModelPackageArn`` names
    the version it made."""

    def __init__(self, name: str, content_types: list[str] | None = None, response_types: list[str] | None = None,
                 inference_instances: list[str] | None = None, transform_instances: list[str] | None = None,
                 estimator: Any = None, model_data: Any = None, depends_on: list[Any] | None = None,
                 repack_model_step_retry_policies: list[Any] | None = None,
                 register_model_step_retry_policies: list[Any] | None = None,
                 model_package_group_name: str | None = None, model_metrics: Any = None,
                 approval_status: Any = None, image_uri: str | None = None, compile_model_family: str | None = None,
                 display_name: str | None = None, description: str | None = None, tags: list[Any] | None = None,
                 model: Any = None, drift_check_baselines: Any = None,
                 customer_metadata_properties: dict[str, str] | None = None, domain: str | None = None,
                 task: str | None = None, **kwargs: Any) -> None:
        if model is None:
            if estimator is None or model_data is None:
                raise ValidationError(f"RegisterModel {name!r}: give model, or estimator and model_data")
            model = estimator._model(model_data)
        if model_package_group_name is None:
            raise ValidationError(f"RegisterModel {name!r}: give model_package_group_name")

        def call() -> None:
            model.register(content_types=content_types, response_types=response_types,
                           inference_instances=inference_instances, transform_instances=transform_instances,
                           model_package_group_name=model_package_group_name, model_metrics=model_metrics,
                           approval_status=approval_status, image_uri=image_uri, description=description,
                           customer_metadata_properties=customer_metadata_properties, domain=domain, task=task)

        step = _RegisterModelStep(f"{name}-RegisterModel", None, call, depends_on,
                                  register_model_step_retry_policies, display_name, description)
        super().__init__(name, [step], depends_on)
