"""``ConditionStep`` (SageMaker Pipelines' ``sagemaker.workflow.condition_step``): when all its
conditions hold, its ``if_steps`` run, else its ``else_steps``; its one property is ``Outcome``."""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError
from mlyard.workflow.conditions import Condition
from mlyard.workflow.properties import Properties
from mlyard.workflow.steps import Step, StepTypeEnum, flat

__all__ = ["ConditionStep"]


class ConditionStep(Step):
    def __init__(self, name: str, depends_on: list[Any] | None = None, display_name: str | None = None,
                 description: str | None = None, conditions: list[Condition] | None = None,
                 if_steps: list[Step] | None = None, else_steps: list[Step] | None = None) -> None:
        super().__init__(name, display_name, description, StepTypeEnum.CONDITION, depends_on)
        self.conditions = list(conditions or [])
        if not all(isinstance(c, Condition) for c in self.conditions):
            raise ValidationError(f"step {name!r}: conditions are Condition objects (ConditionEquals, ...)")
        self.if_steps = flat(list(if_steps or []))
        self.else_steps = flat(list(else_steps or []))
        for branch, steps in (("if_steps", self.if_steps), ("else_steps", self.else_steps)):
            if not all(isinstance(s, Step) for s in steps):
                raise ValidationError(f"step {name!r}: {branch} are steps")

    @property
    def arguments(self) -> dict[str, Any]:
        return {"Conditions": [c.to_request() for c in self.conditions],
                "IfSteps": [s.to_request() for s in self.if_steps],
                "ElseSteps": [s.to_request() for s in self.else_steps]}

    @property
    def properties(self) -> Properties:
        """``Outcome``: whether the conditions held."""
        return Properties(self.name)

