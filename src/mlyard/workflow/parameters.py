"""Pipeline parameters (SageMaker Pipelines' ``sagemaker.workflow.parameters``): named inputs of a
pipeline, given at ``start`` or taken from their defaults."""

from __future__ import annotations

from enum import Enum
from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow.entities import Entity, PipelineVariable

__all__ = ["ParameterTypeEnum", "Parameter", "ParameterString", "ParameterInteger", "ParameterFloat",
           "ParameterBoolean"]


class ParameterTypeEnum(Enum):
    STRING = "String"
    INTEGER = "Integer"
    FLOAT = "Float"
    BOOLEAN = "Boolean"

    @property
    def python_type(self) -> type:
        return {"String": str, "Integer": int, "Float": float, "Boolean": bool}[self.value]


class Parameter(PipelineVariable, Entity):
    """``{"Get": "Parameters.<name>"}`` in the definition; declared as ``{Name, Type, DefaultValue}``."""

    def __init__(self, name: str, parameter_type: ParameterTypeEnum, default_value: Any = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError("a pipeline parameter needs a name")
        self.name = name
        self.parameter_type = parameter_type
        if default_value is not None:
            default_value = self.check(default_value, f"parameter {name!r}'s default value")
        self.default_value = default_value

    def check(self, value: Any, what: str) -> Any:
        """``value`` as this parameter's type (an int is a Float's), or ValidationError."""
        kind = self.parameter_type
        ok = (isinstance(value, bool) if kind is ParameterTypeEnum.BOOLEAN
              else isinstance(value, int) and not isinstance(value, bool) if kind is ParameterTypeEnum.INTEGER
              else isinstance(value, (int, float)) and not isinstance(value, bool) if kind is ParameterTypeEnum.FLOAT
              else isinstance(value, str))
        if not ok:
            raise ValidationError(f"{what} must be a {kind.value}, not {value!r} ({type(value).__name__})")
        return float(value) if kind is ParameterTypeEnum.FLOAT else value

    @property
    def expr(self) -> dict[str, str]:
        return {"Get": f"Parameters.{self.name}"}

    def to_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"Name": self.name, "Type": self.parameter_type.value}
        if self.default_value is not None:
            request["DefaultValue"] = self.default_value
        return request


class ParameterString(Parameter):
    def __init__(self, name: str, default_value: str | None = None, enum_values: list[str] | None = None) -> None:
        super().__init__(name, ParameterTypeEnum.STRING, default_value)
        self.enum_values = list(enum_values) if enum_values else None
        if self.enum_values and default_value is not None and default_value not in self.enum_values:
            raise ValidationError(f"parameter {name!r}'s default value {default_value!r} is not one of its "
                                  f"enum_values {self.enum_values}")

    def check(self, value: Any, what: str) -> Any:
        value = super().check(value, what)
        if getattr(self, "enum_values", None) and value not in self.enum_values:  # type: ignore[operator]
            raise ValidationError(f"{what} must be one of {self.enum_values}, not {value!r}")
        return value

    def to_request(self) -> dict[str, Any]:
        request = super().to_request()
        if self.enum_values:
            request["EnumValues"] = self.enum_values
        return request


class ParameterInteger(Parameter):
    def __init__(self, name: str, default_value: int | None = None) -> None:
        super().__init__(name, ParameterTypeEnum.INTEGER, default_value)


class ParameterFloat(Parameter):
    def __init__(self, name: str, default_value: float | None = None) -> None:
        super().__init__(name, ParameterTypeEnum.FLOAT, default_value)


class ParameterBoolean(Parameter):
    def __init__(self, name: str, default_value: bool | None = None) -> None:
        super().__init__(name, ParameterTypeEnum.BOOLEAN, default_value)
