"""Pipeline variables (SageMaker Pipelines' ``sagemaker.workflow.entities``): values known only when
a pipeline runs (parameters, execution variables, step properties, functions of them). Each has an
``expr``, the JSON the pipeline definition holds in its place."""

from __future__ import annotations

from typing import Any

__all__ = ["PipelineVariable", "Entity", "primitive_or_expr"]


class Entity:
    """Something with a request form in the pipeline definition."""

    def to_request(self) -> Any:
        raise NotImplementedError


class PipelineVariable:
    """A value known only when the pipeline runs: usable where an SDK argument is, never as a
    Python string or number (which it is not yet)."""

    @property
    def expr(self) -> Any:
        raise NotImplementedError

    def to_string(self) -> Any:
        """The variable as a string when the pipeline runs (``Join`` of it alone)."""
        from mlyard.workflow.functions import Join

        return Join(on="", values=[self])

    def __str__(self) -> str:
        raise TypeError(f"{type(self).__name__} is a pipeline variable: its value is known only when the pipeline "
                        "runs. Use .to_string() or Join(...) instead of str() or an f-string")

    def __add__(self, other: Any) -> Any:
        raise TypeError("pipeline variables cannot be concatenated with +: use Join(on='', values=[...])")

    __radd__ = __add__

    def __int__(self) -> int:
        raise TypeError(f"{type(self).__name__} is a pipeline variable: it has no Python number value")

    def __float__(self) -> float:
        raise TypeError(f"{type(self).__name__} is a pipeline variable: it has no Python number value")

    def __iter__(self) -> Any:
        raise TypeError(f"{type(self).__name__} is a pipeline variable: it cannot be iterated")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.expr!r})"


def primitive_or_expr(value: Any) -> Any:
    """``value`` as the definition holds it: a variable's expression, or the value itself (lists
    and dicts walked)."""
    if isinstance(value, PipelineVariable):
        return value.expr
    if isinstance(value, Entity):
        return value.to_request()
    if isinstance(value, dict):
        return {k: primitive_or_expr(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [primitive_or_expr(v) for v in value]
    return value
