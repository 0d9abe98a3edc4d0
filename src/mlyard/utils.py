"""SageMaker's public helpers (``sagemaker.utils``): names and timestamps.

The naming functions live in ``mlyard.naming``, which the control plane imports too, so a name the
server picks for an unnamed request has the same shape as one the SDK makes."""

from __future__ import annotations

from mlyard.naming import (
    base_name_from_image,
    name_from_base,
    sagemaker_short_timestamp,
    sagemaker_timestamp,
    unique_name_from_base,
)

__all__ = ["name_from_base", "unique_name_from_base", "sagemaker_timestamp", "sagemaker_short_timestamp",
           "base_name_from_image"]
