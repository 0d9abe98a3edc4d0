"""The workflow engine: an Amazon States Language interpreter (paths, data flow, intrinsic
functions, Choice rules, Retry/Catch, durable replay, schedules, task integrations) and the checks
of a definition before it is created. Workflows are written with ``mlyard.stepfunctions`` (the
Step Functions Data Science SDK's API).

SageMaker Pipelines' ``sagemaker.workflow`` API is being built here: its expressions
(``parameters``, ``execution_variables``, ``functions``, ``properties``, ``conditions``,
``entities``), ``retry``, and the steps that run no job (``fail_step``, ``condition_step``, the
base ``steps.Step``) are; the job steps and ``Pipeline`` are not provided yet."""

import importlib

from mlyard.workflow.errors import StatesError
from mlyard.workflow.validate import check, problems

__all__ = ["StatesError", "check", "problems"]

_PIPELINES = ("entities", "parameters", "execution_variables", "functions", "properties", "conditions", "retry",
              "steps", "fail_step", "condition_step")


def __getattr__(name: str) -> object:
    if name in _PIPELINES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"mlyard does not provide sagemaker.workflow.{name} yet (SageMaker Pipelines); "
                         "write workflows with mlyard.stepfunctions (module 'mlyard.workflow' has no attribute "
                         f"{name!r})")
