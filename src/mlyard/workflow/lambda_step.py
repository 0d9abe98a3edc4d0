"""``LambdaStep`` (SageMaker Pipelines' ``sagemaker.workflow.lambda_step``): invokes a registered
function (``lambda_helper.Lambda``) with ``inputs`` (pipeline variables resolved) as its event; the
declared ``outputs`` are the keys of the object it returns, ``step.properties.Outputs[name]``."""

from __future__ import annotations

from enum import Enum
from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow.entities import primitive_or_expr
from mlyard.workflow.properties import Properties
from mlyard.workflow.steps import CacheConfig, Step, StepTypeEnum

__all__ = ["LambdaStep", "LambdaOutput", "LambdaOutputTypeEnum"]


class LambdaOutputTypeEnum(Enum):
    String = "String"
    Integer = "Integer"
    Boolean = "Boolean"
    Float = "Float"


class LambdaOutput:
    def __init__(self, output_name: str, output_type: LambdaOutputTypeEnum = LambdaOutputTypeEnum.String) -> None:
        if not output_name:
            raise ValidationError("a LambdaOutput needs an output_name")
        self.output_name = output_name
        self.output_type = output_type

    def to_request(self) -> dict[str, str]:
        return {"OutputName": self.output_name, "OutputType": self.output_type.value}


class _LambdaProperties(Properties):
    """``Outputs[name]`` is the definition's ``OutputParameters['name']``."""

    def __getattr__(self, name: str) -> Properties:
        if name == "Outputs" and not self._path:
            return Properties(self._step_name, "OutputParameters")
        return super().__getattr__(name)


class LambdaStep(Step):
    def __init__(self, name: str, lambda_func: Any, display_name: str | None = None,
                 description: str | None = None, inputs: dict[str, Any] | None = None,
                 outputs: list[LambdaOutput] | None = None, cache_config: CacheConfig | None = None,
                 depends_on: list[Any] | None = None) -> None:
        super().__init__(name, display_name, description, StepTypeEnum.LAMBDA, depends_on)
        if not hasattr(lambda_func, "name"):
            raise ValidationError(f"step {name!r}: lambda_func is a mlyard.lambda_helper.Lambda")
        self.lambda_func = lambda_func
        self.inputs = dict(inputs or {})
        self.outputs = list(outputs or [])
        self.cache_config = cache_config

    @property
    def arguments(self) -> dict[str, Any]:
        return {k: primitive_or_expr(v) for k, v in self.inputs.items()}

    @property
    def properties(self) -> Properties:
        return _LambdaProperties(self.name)

    def to_request(self) -> dict[str, Any]:
        request = super().to_request()
        request["FunctionArn"] = self.lambda_func.function_arn or self.lambda_func.name
        request["OutputParameters"] = [o.to_request() for o in self.outputs]
        if self.cache_config is not None:
            request.update(self.cache_config.config)
        return request
