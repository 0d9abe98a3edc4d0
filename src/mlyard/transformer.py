"""``Transformer``: batch transform jobs (SageMaker's ``sagemaker.transformer``)."""

from __future__ import annotations

import re
from typing import Any

from mlyard.errors import ValidationError
from mlyard.jobs import Job, _file_uri, check_instances, submit
from mlyard.session import Session
from mlyard.validation import TRANSFORM_ENVIRONMENT, check_map, check_name
from mlyard.workflow.pipeline_context import runnable_by_pipeline

__all__ = ["Transformer", "TransformJob"]


class TransformJob(Job):
    """A batch transform job in the control plane."""

    kind = "Transform"


class Transformer:
    def __init__(self, model_name: str, instance_count: int, instance_type: str, strategy: str | None = None,
                 assemble_with: str | None = None, output_path: str | None = None, output_kms_key: str | None = None,
                 accept: str | None = None, max_concurrent_transforms: int | None = None,
                 max_payload: float | None = None, tags: list[dict[str, str]] | None = None,
                 env: dict[str, str] | None = None, base_transform_job_name: str | None = None,
                 sagemaker_session: Session | None = None, volume_kms_key: str | None = None,
                 **kwargs: Any) -> None:
        from mlyard.compat import cloud_only

        cloud_only("Transformer", {"output_kms_key": output_kms_key, "volume_kms_key": volume_kms_key, **kwargs})
        self.model_name = model_name
        self.instance_count = check_instances(instance_type, instance_count)
        self.instance_type = instance_type
        self.strategy = strategy
        self.assemble_with = assemble_with
        self.output_path = _file_uri(output_path) if output_path else None
        self.accept = accept
        self.max_concurrent_transforms = max_concurrent_transforms
        self.max_payload = max_payload
        self.tags = tags or []
        self.env = dict(env or {})
        self.base_transform_job_name = base_transform_job_name
        self.sagemaker_session = sagemaker_session or Session()
        self.latest_transform_job: TransformJob | None = None
        self._current_job_name: str | None = None

    @runnable_by_pipeline
    def transform(self, data: str, data_type: str = "S3Prefix", content_type: str | None = None,
                  compression_type: str | None = None, split_type: str | None = None, job_name: str | None = None,
                  input_filter: str | None = None, output_filter: str | None = None, join_source: str | None = None,
                  experiment_config: dict[str, Any] | None = None, model_client_config: Any = None,
                  batch_data_capture_config: Any = None, wait: bool = True, logs: bool = True) -> None:
        """Run the model over every object under ``data``; each ``<key>`` gets ``<key>.out``
        under ``output_path``."""
        from mlyard.compat import cloud_only

        cloud_only("Transformer.transform", {
            "compression_type": None if compression_type in (None, "None") else compression_type,
            "model_client_config": model_client_config, "batch_data_capture_config": batch_data_capture_config})
        client = self.sagemaker_session.client
        request = self._request(job_name, data, data_type, content_type, split_type, input_filter, output_filter,
                                join_source)
        name = submit(self.sagemaker_session, "transform", request)["TransformJobName"]
        self._current_job_name = name
        self.latest_transform_job = TransformJob(self.sagemaker_session, name)
        if self.output_path is None:
            desc = client.describe_job(self._current_job_name)
            self.output_path = desc["TransformOutput"]["S3OutputPath"]
        if wait:
            self.wait(logs=logs)

    def _request(self, job_name: str | None, data: Any, data_type: str = "S3Prefix", content_type: str | None = None,
                 split_type: str | None = None, input_filter: str | None = None, output_filter: str | None = None,
                 join_source: str | None = None, model_name: Any = None) -> dict[str, Any]:
        """The CreateTransformJob request: pure (see ``jobs.submit``: a local ``data`` is a
        ``file://`` reference); the server names the job from ``MlyardConfig.BaseName`` when
        ``job_name`` is None."""
        env = {str(k): str(v) for k, v in self.env.items()}
        check_map("environment variable", env, TRANSFORM_ENVIRONMENT)
        if job_name is not None:
            check_name("job_name", job_name)
        # The model's name without its timestamp and random suffix.
        model_base = re.sub(r"-\d{4}(-\d{2}){5}-\d{3}(-[0-9a-f]{4}|-[0-9a-f]{8})?$", "",
                        self.model_name if isinstance(self.model_name, str) else "model")
        base = self.base_transform_job_name or f"{model_base[:28]}-transform"
        req: dict[str, Any] = {
            "TransformJobName": job_name,
            "MlyardConfig": {"BaseName": base, "DefaultOutput": self.sagemaker_session._default_output()},
            "ModelName": model_name if model_name is not None else self.model_name,
            "BatchStrategy": self.strategy or "MultiRecord", "Environment": env, "Tags": self.tags,
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": data_type,
                                                               "S3Uri": data if not isinstance(data, str)
                                                               else _file_uri(data)}},
                               "ContentType": content_type, "SplitType": split_type or "None"},
            "TransformOutput": {"S3OutputPath": self.output_path, "Accept": self.accept,
                                "AssembleWith": self.assemble_with or "None"},
            "TransformResources": {"InstanceType": self.instance_type, "InstanceCount": self.instance_count},
        }
        if self.max_concurrent_transforms:
            req["MaxConcurrentTransforms"] = self.max_concurrent_transforms
        if self.max_payload is not None:
            req["MaxPayloadInMB"] = self.max_payload
        if input_filter or output_filter or join_source:
            req["DataProcessing"] = {"InputFilter": input_filter, "OutputFilter": output_filter,
                                     "JoinSource": join_source}
        return req

    def _job(self) -> TransformJob:
        if self.latest_transform_job is None:
            raise ValidationError("no transform job started yet: call transform() first")
        return self.latest_transform_job

    def wait(self, logs: bool = True) -> dict[str, Any]:
        return self._job().wait(logs=logs)

    def describe(self) -> dict[str, Any]:
        return self._job().describe()

    def stop_transform_job(self, wait: bool = True) -> None:
        self._job().stop()
        if wait:
            self.wait(logs=False)
