"""Local mode (SageMaker's ``sagemaker.local``): in mlyard every session is local, so
``LocalSession`` is mlyard's ``Session``."""

from mlyard.local.local_session import LocalSession

__all__ = ["LocalSession"]
