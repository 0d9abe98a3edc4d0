"""``ModelStep`` (SageMaker Pipelines' ``sagemaker.workflow.model_step``): the step of
``model.create()`` made under a ``PipelineSession`` (its properties: the model's description,
``ModelName``), or of ``model.register(...)`` (a version in the model registry: ``ModelPackageArn``)."""

from __future__ import annotations

from typing import Any

from mlyard.workflow.steps import StepTypeEnum, _JobStep

__all__ = ["ModelStep"]


class ModelStep(_JobStep):
    def __init__(self, name: str, step_args: Any, depends_on: list[Any] | None = None,
                 retry_policies: Any = None, display_name: str | None = None,
                 description: str | None = None, repack_model_step_settings: Any = None) -> None:
        if isinstance(retry_policies, dict):  # SageMaker's per-sub-step form: all of them apply
            retry_policies = [p for ps in retry_policies.values() for p in ps]
        registers = getattr(step_args, "kind", None) == "model-package"  # model.register(...)
        self._kind = "model-package" if registers else "model"
        super().__init__(name, StepTypeEnum.REGISTER_MODEL if registers else StepTypeEnum.CREATE_MODEL, step_args,
                         None, display_name, description, None, depends_on, retry_policies)
