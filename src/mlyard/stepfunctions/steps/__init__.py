"""The states of a workflow (``Pass``, ``Task``, ``Choice``, ...), their rules, retries and catches, and
the service steps (SageMaker jobs and models, functions)."""

from mlyard.stepfunctions.steps.choice_rule import ChoiceRule
from mlyard.stepfunctions.steps.compute import LambdaStep
from mlyard.stepfunctions.steps.sagemaker import (
    EndpointConfigStep,
    EndpointStep,
    ModelStep,
    ProcessingStep,
    TrainingStep,
    TransformStep,
    TuningStep,
)
from mlyard.stepfunctions.steps.states import (
    Catch,
    Chain,
    Choice,
    DuplicateStatesInChain,
    Fail,
    FrozenGraph,
    Graph,
    Map,
    Parallel,
    Pass,
    Retry,
    State,
    Succeed,
    Task,
    Wait,
)

__all__ = ["ChoiceRule", "Catch", "Chain", "Choice", "DuplicateStatesInChain", "Fail", "FrozenGraph", "Graph",
           "LambdaStep", "Map", "Parallel", "Pass", "Retry", "State", "Succeed", "Task", "Wait", "TrainingStep",
           "ProcessingStep", "TransformStep", "TuningStep", "ModelStep", "EndpointConfigStep", "EndpointStep"]
