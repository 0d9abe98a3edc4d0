"""``LocalSession`` (SageMaker's ``sagemaker.local.local_session``)."""

from __future__ import annotations

from typing import Any

from mlyard.session import Session

__all__ = ["LocalSession"]


class LocalSession(Session):
    """mlyard's ``Session``, built with SageMaker's ``LocalSession`` arguments.

    Every mlyard session already runs jobs on this machine (or on the control plane named by
    ``MLYARD_URL``), so local mode changes nothing: ``boto_session``, ``s3_endpoint_url``,
    ``disable_local_code`` and ``sagemaker_config`` are passed on to ``Session``, which accepts
    what it can use and ignores the rest, as a SageMaker notebook expects."""

    def __init__(self, boto_session: Any = None, default_bucket: str | None = None,
                 s3_endpoint_url: str | None = None, disable_local_code: bool = False,
                 sagemaker_config: dict[str, Any] | None = None, default_bucket_prefix: str | None = None,
                 **kwargs: Any) -> None:
        passed: dict[str, Any] = {"default_bucket": default_bucket, **kwargs}
        for key, value in (("boto_session", boto_session), ("s3_endpoint_url", s3_endpoint_url),
                           ("sagemaker_config", sagemaker_config),
                           ("default_bucket_prefix", default_bucket_prefix)):
            if value is not None:
                passed[key] = value
        if disable_local_code:
            passed["disable_local_code"] = disable_local_code
        super().__init__(**passed)
        self.local_mode = True
