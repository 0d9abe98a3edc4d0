"""The states of a workflow (``Pass``, ``Task``, ``Choice``, ...), their rules, retries and catches."""

from mlyard.stepfunctions.steps.choice_rule import ChoiceRule
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

__all__ = ["ChoiceRule", "Catch", "Chain", "Choice", "DuplicateStatesInChain", "Fail", "FrozenGraph", "Graph", "Map",
           "Parallel", "Pass", "Retry", "State", "Succeed", "Task", "Wait"]
