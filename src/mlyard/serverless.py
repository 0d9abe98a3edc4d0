"""``ServerlessInferenceConfig`` (SageMaker's ``sagemaker.serverless``), so notebooks that deploy
serverless endpoints import and run unchanged.

There is no serverless fleet on a local machine: ``deploy(serverless_inference_config=...)`` runs
the endpoint on one ``local`` instance, with one warning saying so (``compat.cloud_only``); the
memory size and concurrency are recorded, not enforced.
"""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError

__all__ = ["ServerlessInferenceConfig"]

_MEMORY_SIZES = (1024, 2048, 3072, 4096, 5120, 6144)


class ServerlessInferenceConfig:
    def __init__(self, memory_size_in_mb: int = 2048, max_concurrency: int = 5,
                 provisioned_concurrency: int | None = None) -> None:
        if memory_size_in_mb not in _MEMORY_SIZES:
            raise ValidationError(f"memory_size_in_mb {memory_size_in_mb!r} must be one of {list(_MEMORY_SIZES)}, "
                                  "as in SageMaker")
        if not isinstance(max_concurrency, int) or not 1 <= max_concurrency <= 200:
            raise ValidationError(f"max_concurrency {max_concurrency!r} must be an integer from 1 to 200")
        self.memory_size_in_mb = memory_size_in_mb
        self.max_concurrency = max_concurrency
        self.provisioned_concurrency = provisioned_concurrency

    def _to_request_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"MemorySizeInMB": self.memory_size_in_mb, "MaxConcurrency": self.max_concurrency}
        if self.provisioned_concurrency is not None:
            out["ProvisionedConcurrency"] = self.provisioned_concurrency
        return out
