"""``LocalSession`` (SageMaker's ``sagemaker.local.local_session``)."""

from __future__ import annotations

from typing import Any

from mlyard.session import Session

__all__ = ["LocalSession"]


class LocalSession(Session):
    """mlyard's ``Session``, built with SageMaker's ``LocalSession`` arguments.

    Every mlyard session already runs jobs on this machine (or on the control plane named by
    ``MLYARD_URL``), so local mode changes nothing: ``boto_session`` and ``sagemaker_config`` are
    passed on to ``Session``; ``s3_endpoint_url`` and ``disable_local_code`` are kept as
    attributes, as a SageMaker notebook expects."""

    def __init__(self, boto_session: Any = None, default_bucket: str | None = None,
                 s3_endpoint_url: str | None = None, disable_local_code: bool = False,
                 sagemaker_config: dict[str, Any] | None = None, default_bucket_prefix: str | None = None,
                 **kwargs: Any) -> None:
        passed: dict[str, Any] = {"default_bucket": default_bucket, **kwargs}
        for key, value in (("boto_session", boto_session), ("sagemaker_config", sagemaker_config),
                           ("default_bucket_prefix", default_bucket_prefix)):
            if value is not None:
                passed[key] = value
        super().__init__(**passed)
        # Local mode's own settings: kept for code that reads them back. Code is always local
        # here, and S3 goes where the control plane's bucket table says (see ``mlyard info``).
        self.s3_endpoint_url = s3_endpoint_url
        self.disable_local_code = disable_local_code
        self.local_mode = True
