"""``DataCaptureConfig`` (SageMaker's ``sagemaker.model_monitor``)."""

from __future__ import annotations

from typing import Any

__all__ = ["DataCaptureConfig"]


class DataCaptureConfig:
    def __init__(self, enable_capture: bool = True, sampling_percentage: float = 20,
                 destination_s3_uri: str | None = None, capture_options: list[str] | None = None,
                 **_ignored: Any) -> None:
        self.enable_capture = enable_capture
        self.sampling_percentage = sampling_percentage
        self.destination_s3_uri = destination_s3_uri
        self.capture_options = capture_options or ["REQUEST", "RESPONSE"]

    def _to_request_dict(self, default_destination: str) -> dict[str, Any]:
        from mlyard.jobs import _file_uri

        modes = {"REQUEST": "Input", "RESPONSE": "Output", "INPUT": "Input", "OUTPUT": "Output"}
        return {"EnableCapture": self.enable_capture, "InitialSamplingPercentage": self.sampling_percentage,
                "DestinationS3Uri": _file_uri(self.destination_s3_uri) if self.destination_s3_uri
                else default_destination,
                "CaptureOptions": [{"CaptureMode": modes[o.upper()]} for o in self.capture_options]}
