"""The workflow engine: an Amazon States Language interpreter (paths, data flow, intrinsic
functions, Choice rules, Retry/Catch, durable replay, schedules, task integrations) and the checks
of a definition before it is created. Workflows are written with ``mlyard.stepfunctions`` (the
Step Functions Data Science SDK's API); SageMaker Pipelines' ``sagemaker.workflow`` API is not
provided yet."""

from mlyard.workflow.errors import StatesError
from mlyard.workflow.validate import check, problems

__all__ = ["StatesError", "check", "problems"]


def __getattr__(name: str) -> object:
    raise AttributeError(f"mlyard does not provide sagemaker.workflow.{name} yet (SageMaker Pipelines); "
                         "write workflows with mlyard.stepfunctions (module 'mlyard.workflow' has no attribute "
                         f"{name!r})")
