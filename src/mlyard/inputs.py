"""``TrainingInput``: one channel of a training job (SageMaker's ``sagemaker.inputs``)."""

from __future__ import annotations

from typing import Any

__all__ = ["TrainingInput"]


class TrainingInput:
    def __init__(self, s3_data: str, distribution: str | None = None, compression: str | None = None,
                 content_type: str | None = None, record_wrapping: str | None = None,
                 s3_data_type: str = "S3Prefix", input_mode: str | None = None, **_ignored: Any) -> None:
        self.config: dict[str, Any] = {"DataSource": {"S3DataSource": {
            "S3DataType": s3_data_type, "S3Uri": s3_data,
            "S3DataDistributionType": distribution or "FullyReplicated"}}}
        if compression is not None:
            self.config["CompressionType"] = compression
        if content_type is not None:
            self.config["ContentType"] = content_type
        if record_wrapping is not None:
            self.config["RecordWrapperType"] = record_wrapping
        if input_mode is not None:
            self.config["InputMode"] = input_mode
