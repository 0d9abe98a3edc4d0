"""The workflow engine: an Amazon States Language interpreter (paths, data flow, intrinsic
functions, Choice rules, Retry/Catch) and the checks of a definition before it is created."""

from mlyard.workflow.errors import StatesError
from mlyard.workflow.validate import check, problems

__all__ = ["StatesError", "check", "problems"]
