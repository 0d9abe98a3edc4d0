"""Choice rules: ``ChoiceRule.NumericLessThan(variable=step.output()["mse"], value=3000)``, and
``And``/``Or``/``Not`` of them. A variable is a placeholder or a ``$...`` path; values are checked
against the operator's type."""

from __future__ import annotations

from typing import Any

from mlyard.stepfunctions.inputs import Placeholder

__all__ = ["ChoiceRule", "Rule", "CompoundRule", "NotRule"]

_KINDS: dict[str, tuple[type, ...]] = {"String": (str,), "Numeric": (int, float), "Boolean": (bool,),
                                       "Timestamp": (str,), "Is": (bool,)}


def _variable(variable: Any) -> str:
    if isinstance(variable, Placeholder):
        return variable.to_jsonpath()
    if isinstance(variable, str) and variable.startswith("$"):
        return variable
    raise ValueError(f"a rule's variable must be a placeholder or a path starting with '$', not {variable!r}")


class Rule:
    def __init__(self, variable: Any, operator: str, value: Any) -> None:
        self.variable = _variable(variable)
        self.operator = operator
        if operator.endswith("Path"):
            value = _variable(value)
        else:
            kind = next((k for k in _KINDS if operator.startswith(k)), "String")
            expected = _KINDS[kind]
            if not isinstance(value, expected) or (kind == "Numeric" and isinstance(value, bool)):
                raise ValueError(f"{operator} compares with {' or '.join(t.__name__ for t in expected)}, "
                                 f"not {value!r}")
        self.value = value

    def to_dict(self) -> dict[str, Any]:
        return {"Variable": self.variable, self.operator: self.value}

    def __repr__(self) -> str:
        return f"Rule({self.to_dict()!r})"


class CompoundRule:
    def __init__(self, operator: str, rules: list[Any]) -> None:
        if not rules:
            raise ValueError(f"{operator} needs at least one rule")
        self.operator = operator
        self.rules = rules

    def to_dict(self) -> dict[str, Any]:
        return {self.operator: [r.to_dict() for r in self.rules]}


class NotRule:
    def __init__(self, rule: Any) -> None:
        self.rule = rule

    def to_dict(self) -> dict[str, Any]:
        return {"Not": self.rule.to_dict()}


def _operator(name: str) -> Any:
    def make(variable: Any, value: Any) -> Rule:
        return Rule(variable, name, value)

    make.__name__ = name
    make.__doc__ = f"A rule: the variable {name} the value."
    return staticmethod(make)


class ChoiceRule:
    """Factories of rules, one per States Language operator."""

    And = staticmethod(lambda rules: CompoundRule("And", rules))
    Or = staticmethod(lambda rules: CompoundRule("Or", rules))
    Not = staticmethod(lambda rule: NotRule(rule))


for _kind in ("String", "Numeric", "Timestamp"):
    for _comparison in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals"):
        for _suffix in ("", "Path"):
            _name = f"{_kind}{_comparison}{_suffix}"
            setattr(ChoiceRule, _name, _operator(_name))
for _name in ("BooleanEquals", "BooleanEqualsPath", "StringMatches", "IsNull", "IsPresent", "IsNumeric", "IsString",
              "IsBoolean", "IsTimestamp"):
    setattr(ChoiceRule, _name, _operator(_name))
