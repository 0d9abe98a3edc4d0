"""Hyperparameter ranges (SageMaker's ``ParameterRanges``) as an Optuna search space.

A ``Space`` checks the ranges, gives Optuna the distribution of each, and turns what Optuna
suggests into the hyperparameter strings a training job gets (and back, for warm start).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlyard.errors import ValidationError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["Range", "Space", "SCALING_TYPES"]

SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
MAX_TUNABLE = 30
MAX_VALUES = 30


@dataclass(frozen=True)
class Range:
    name: str
    kind: str  # "Continuous", "Integer" or "Categorical"
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Linear"  # as resolved from Auto
    values: tuple[str, ...] = ()

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "Categorical":
            return CategoricalDistribution(list(self.values))
        if self.kind == "Integer":
            return IntDistribution(int(self.low), int(self.high), log=self.scaling == "Logarithmic")
        if self.scaling == "ReverseLogarithmic":
            # Sample 1 - x on a log scale: values crowd towards the top of [low, high).
            return FloatDistribution(1.0 - self.high, 1.0 - self.low, log=True)
        return FloatDistribution(self.low, self.high, log=self.scaling == "Logarithmic")

    def to_hyperparameter(self, internal: Any) -> str:
        """What the training job gets: a JSON number, or the categorical value as given."""
        if self.kind == "Categorical":
            return str(internal)
        if self.kind == "Integer":
            return str(int(internal))
        value = 1.0 - float(internal) if self.scaling == "ReverseLogarithmic" else float(internal)
        # 12 significant digits: exp(log(0.001)) is 0.0010000000000000002, which nobody wants to read.
        return json.dumps(min(max(float(f"{value:.12g}"), self.low), self.high))

    def from_hyperparameter(self, text: str) -> Any | None:
        """Optuna's value for a hyperparameter string, or None if it lies outside this range."""
        if self.kind == "Categorical":
            return text if text in self.values else None
        try:
            value = float(json.loads(text))
        except (ValueError, TypeError):
            return None
        if not self.low <= value <= self.high or math.isnan(value):
            return None
        if self.kind == "Integer":
            return int(value) if value == int(value) else None
        if self.scaling == "ReverseLogarithmic":
            return 1.0 - value if value < 1.0 else None
        return value


def _number(name: str, field: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"hyperparameter range {name!r}: {field} {raw!r} is not a number") from None
    if math.isnan(value) or math.isinf(value):
        raise ValidationError(f"hyperparameter range {name!r}: {field} must be a finite number, not {raw!r}")
    return value


def _resolve_scaling(name: str, kind: str, low: float, high: float, scaling: str) -> str:
    if scaling not in SCALING_TYPES:
        raise ValidationError(f"hyperparameter range {name!r}: ScalingType {scaling!r} is not one of "
                              f"{', '.join(SCALING_TYPES)}")
    if scaling == "Auto":
        # Two orders of magnitude or more between positive bounds: search on a log scale.
        return "Logarithmic" if low > 0 and high / low >= 100 else "Linear"
    if scaling == "Logarithmic" and low <= 0:
        raise ValidationError(f"hyperparameter range {name!r}: a Logarithmic scale needs MinValue > 0, but the "
                              f"range [{low:g}, {high:g}] includes 0 or negative values; use Linear, or raise "
                              "MinValue above 0")
    if scaling == "ReverseLogarithmic":
        if kind == "Integer":
            raise ValidationError(f"hyperparameter range {name!r}: ReverseLogarithmic is for continuous ranges "
                                  "only; use Linear or Logarithmic for an integer")
        if low < 0 or high >= 1:
            raise ValidationError(f"hyperparameter range {name!r}: a ReverseLogarithmic scale needs "
                                  f"0 <= MinValue and MaxValue < 1, not [{low:g}, {high:g}]")
    return scaling


class Space:
    """The tunable hyperparameters of a tuning job, in a fixed order."""

    def __init__(self, ranges: list[Range]) -> None:
        self.ranges = ranges
        self.by_name = {r.name: r for r in ranges}

    @classmethod
    def from_request(cls, parameter_ranges: dict[str, Any]) -> Space:
        ranges: list[Range] = []
        for kind in ("Continuous", "Integer"):
            for item in parameter_ranges.get(f"{kind}ParameterRanges") or []:
                name = item["Name"]
                low = _number(name, "MinValue", item["MinValue"])
                high = _number(name, "MaxValue", item["MaxValue"])
                if not math.isfinite(high - low):
                    raise ValidationError(f"hyperparameter range {name!r}: [{low:g}, {high:g}] is too wide to "
                                          "search; narrow it")
                if low >= high:
                    raise ValidationError(f"hyperparameter range {name!r}: MinValue ({low:g}) must be less than "
                                          f"MaxValue ({high:g}); to fix a value, make it a static hyperparameter")
                if kind == "Integer" and (low != int(low) or high != int(high)):
                    raise ValidationError(f"hyperparameter range {name!r}: an IntegerParameter needs whole "
                                          f"numbers, not [{low:g}, {high:g}]")
                scaling = _resolve_scaling(name, kind, low, high, item.get("ScalingType") or "Auto")
                ranges.append(Range(name, kind, low, high, scaling))
        for item in parameter_ranges.get("CategoricalParameterRanges") or []:
            name = item["Name"]
            values = [str(v) for v in item.get("Values") or []]
            if not values:
                raise ValidationError(f"hyperparameter range {name!r}: a CategoricalParameter needs at least one "
                                      "value")
            if len(values) > MAX_VALUES:
                raise ValidationError(f"hyperparameter range {name!r}: {len(values)} values; at most {MAX_VALUES}")
            if len(set(values)) != len(values):
                raise ValidationError(f"hyperparameter range {name!r}: the values {values} repeat one another")
            ranges.append(Range(name, "Categorical", values=tuple(values)))
        names = [r.name for r in ranges]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValidationError(f"hyperparameters {dup} have more than one range; give each one range")
        if not ranges:
            raise ValidationError("the tuning job has no hyperparameter ranges: give at least one "
                                  "ContinuousParameter, IntegerParameter or CategoricalParameter")
        if len(ranges) > MAX_TUNABLE:
            raise ValidationError(f"{len(ranges)} tunable hyperparameters; at most {MAX_TUNABLE}")
        return cls(ranges)

    def distributions(self) -> dict[str, BaseDistribution]:
        return {r.name: r.distribution() for r in self.ranges}

    def hyperparameters(self, params: dict[str, Any]) -> dict[str, str]:
        return {name: self.by_name[name].to_hyperparameter(value) for name, value in params.items()}

    def params_from(self, hyperparameters: dict[str, str]) -> dict[str, Any] | None:
        """Optuna's params for a finished job's hyperparameters; None if any lies outside the space."""
        params = {}
        for r in self.ranges:
            if r.name not in hyperparameters:
                return None
            value = r.from_hyperparameter(hyperparameters[r.name])
            if value is None:
                return None
            params[r.name] = value
        return params

    def grid_size(self) -> int:
        return math.prod(len(r.values) for r in self.ranges)

    def grid(self) -> dict[str, list[str]]:
        return {r.name: list(r.values) for r in self.ranges}
