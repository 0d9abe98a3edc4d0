"""The workflow engine: an Amazon States Language interpreter (paths, data flow, intrinsic
functions, Choice rules, Retry/Catch, durable replay, schedules, task integrations) and the checks
of a definition before it is created. Workflows are written with ``mlyard.stepfunctions`` (the
Step Functions Data Science SDK's API).

SageMaker Pipelines' ``sagemaker.workflow`` API is here too (``pipeline``, ``steps``,
``parameters``, ...): a pipeline definition compiles to the engine (``compile.py``), its steps run
by ``pipeline_steps.py``. ``step_collections.RegisterModel`` registers a model version in the registry."""

import importlib

from mlyard.workflow.errors import StatesError
from mlyard.workflow.validate import check, problems

__all__ = ["StatesError", "check", "problems"]

_PIPELINES = ("entities", "parameters", "execution_variables", "functions", "properties", "conditions", "retry",
              "steps", "fail_step", "condition_step", "pipeline", "pipeline_context", "model_step",
              "pipeline_experiment_config", "selective_execution_config", "lambda_step",
              "step_collections")


def __getattr__(name: str) -> object:
    if name in _PIPELINES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"mlyard does not provide sagemaker.workflow.{name} yet (module 'mlyard.workflow' has no "
                         f"attribute {name!r})")
