"""Conditions of a ``ConditionStep`` (SageMaker Pipelines' ``sagemaker.workflow.conditions``)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow.entities import Entity, primitive_or_expr

__all__ = ["ConditionTypeEnum", "Condition", "ConditionComparison", "ConditionEquals", "ConditionGreaterThan",
           "ConditionGreaterThanOrEqualTo", "ConditionLessThan", "ConditionLessThanOrEqualTo", "ConditionIn",
           "ConditionNot", "ConditionOr"]


class ConditionTypeEnum(Enum):
    EQ = "Equals"
    GT = "GreaterThan"
    GTE = "GreaterThanOrEqualTo"
    IN = "In"
    LT = "LessThan"
    LTE = "LessThanOrEqualTo"
    NOT = "Not"
    OR = "Or"


class Condition(Entity):
    def __init__(self, condition_type: ConditionTypeEnum) -> None:
        self.condition_type = condition_type


class ConditionComparison(Condition):
    def __init__(self, condition_type: ConditionTypeEnum, left: Any, right: Any) -> None:
        super().__init__(condition_type)
        self.left, self.right = left, right

    def to_request(self) -> dict[str, Any]:
        return {"Type": self.condition_type.value, "LeftValue": primitive_or_expr(self.left),
                "RightValue": primitive_or_expr(self.right)}


class ConditionEquals(ConditionComparison):
    def __init__(self, left: Any, right: Any) -> None:
        super().__init__(ConditionTypeEnum.EQ, left, right)


class ConditionGreaterThan(ConditionComparison):
    def __init__(self, left: Any, right: Any) -> None:
        super().__init__(ConditionTypeEnum.GT, left, right)


class ConditionGreaterThanOrEqualTo(ConditionComparison):
    def __init__(self, left: Any, right: Any) -> None:
        super().__init__(ConditionTypeEnum.GTE, left, right)


class ConditionLessThan(ConditionComparison):
    def __init__(self, left: Any, right: Any) -> None:
        super().__init__(ConditionTypeEnum.LT, left, right)


class ConditionLessThanOrEqualTo(ConditionComparison):
    def __init__(self, left: Any, right: Any) -> None:
        super().__init__(ConditionTypeEnum.LTE, left, right)


class ConditionIn(Condition):
    def __init__(self, value: Any, in_values: list[Any]) -> None:
        super().__init__(ConditionTypeEnum.IN)
        if not isinstance(in_values, (list, tuple)) or not in_values:
            raise ValidationError("ConditionIn needs in_values: a non-empty list")
        self.value, self.in_values = value, list(in_values)

    def to_request(self) -> dict[str, Any]:
        return {"Type": "In", "QueryValue": primitive_or_expr(self.value),
                "Values": [primitive_or_expr(v) for v in self.in_values]}


class ConditionNot(Condition):
    def __init__(self, expression: Condition) -> None:
        super().__init__(ConditionTypeEnum.NOT)
        if not isinstance(expression, Condition):
            raise ValidationError(f"ConditionNot takes a condition, not {expression!r}")
        self.expression = expression

    def to_request(self) -> dict[str, Any]:
        return {"Type": "Not", "Expression": self.expression.to_request()}


class ConditionOr(Condition):
    def __init__(self, conditions: list[Condition]) -> None:
        super().__init__(ConditionTypeEnum.OR)
        if not conditions or not all(isinstance(c, Condition) for c in conditions):
            raise ValidationError("ConditionOr takes a non-empty list of conditions")
        self.conditions = list(conditions)

    def to_request(self) -> dict[str, Any]:
        return {"Type": "Or", "Conditions": [c.to_request() for c in self.conditions]}
