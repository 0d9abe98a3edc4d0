"""Inputs of jobs and models (SageMaker's ``sagemaker.inputs``): ``TrainingInput``,
``FileSystemInput``, ``TransformInput``, ``CreateModelInput``."""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError

__all__ = ["TrainingInput", "FileSystemInput", "TransformInput", "CreateModelInput", "BatchDataCaptureConfig",
           "s3_input"]


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


class s3_input(TrainingInput):  # noqa: N801 - SageMaker SDK v1's name
    """SageMaker SDK v1's name of ``TrainingInput``: accepted, with a deprecation warning."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import warnings

        warnings.warn("s3_input is SageMaker SDK v1's name: use TrainingInput (same arguments)",
                      DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)


class FileSystemInput:
    """A training channel read from a file system (SageMaker: EFS or FSx for Lustre). For mlyard,
    ``directory_path`` is an absolute path of a folder on the server's machine, read in place:
    nothing is uploaded, and the server's source policy decides whether the folder may be read.
    ``file_system_id`` is recorded only."""

    def __init__(self, file_system_id: str, file_system_type: str, directory_path: str,
                 file_system_access_mode: str = "ro", content_type: str | None = None) -> None:
        if file_system_type not in ("EFS", "FSxLustre"):
            raise ValidationError(f"file_system_type {file_system_type!r} must be 'EFS' or 'FSxLustre'")
        if file_system_access_mode not in ("ro", "rw"):
            raise ValidationError(f"file_system_access_mode {file_system_access_mode!r} must be 'ro' or 'rw'")
        if not directory_path or not directory_path.startswith("/"):
            raise ValidationError(f"directory_path {directory_path!r} must be the absolute path of a folder on "
                                  "the server's machine")
        if file_system_access_mode == "rw":
            from mlyard.compat import warn

            warn(f"FileSystemInput({directory_path!r}): file_system_access_mode='rw' is accepted but not applied "
                 "by mlyard: a channel's folder is copied into the job, so the job's writes do not reach it")
        self.config: dict[str, Any] = {"DataSource": {"FileSystemDataSource": {
            "FileSystemId": file_system_id, "FileSystemType": file_system_type, "DirectoryPath": directory_path,
            "FileSystemAccessMode": file_system_access_mode}}}
        if content_type is not None:
            self.config["ContentType"] = content_type


class TransformInput:
    """The input of a transform job, in SageMaker's shape (``to_request_dict``); ``Transformer.
    transform`` takes the same fields as arguments."""

    def __init__(self, data: str, data_type: str = "S3Prefix", content_type: str | None = None,
                 compression_type: str | None = None, split_type: str | None = None,
                 input_filter: str | None = None, output_filter: str | None = None, join_source: str | None = None,
                 model_client_config: dict[str, Any] | None = None,
                 batch_data_capture_config: Any = None) -> None:
        self.data = data
        self.data_type = data_type
        self.content_type = content_type
        self.compression_type = compression_type
        self.split_type = split_type
        self.input_filter = input_filter
        self.output_filter = output_filter
        self.join_source = join_source
        self.model_client_config = model_client_config
        self.batch_data_capture_config = batch_data_capture_config

    def to_request_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"DataSource": {"S3DataSource": {"S3DataType": self.data_type, "S3Uri": self.data}}}
        for key, value in (("ContentType", self.content_type), ("CompressionType", self.compression_type),
                           ("SplitType", self.split_type)):
            if value is not None:
                out[key] = value
        return out


class CreateModelInput:
    """The instance type and accelerator of a model step (SageMaker Pipelines' ``CreateModelInput``)."""

    def __init__(self, instance_type: str | None = None, accelerator_type: str | None = None) -> None:
        self.instance_type = instance_type
        self.accelerator_type = accelerator_type


class BatchDataCaptureConfig:
    """Where a transform job's inputs and outputs would be captured (recorded only)."""

    def __init__(self, destination_s3_uri: str, kms_key_id: str | None = None,
                 generate_inference_id: bool | None = None) -> None:
        self.destination_s3_uri = destination_s3_uri
        self.kms_key_id = kms_key_id
        self.generate_inference_id = generate_inference_id
