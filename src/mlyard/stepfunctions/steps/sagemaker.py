"""SageMaker steps: Task states whose parameters are the SageMaker API's requests, built by the
same request builders as the SDK's ``fit``/``run``/``deploy`` (local code and data are uploaded
when the step is made, as the AWS SDK uploads them). ``wait_for_completion`` adds ``.sync``: the
step ends when its job has, its output the job's description."""

from __future__ import annotations

from typing import Any

from mlyard.stepfunctions.inputs import Placeholder
from mlyard.stepfunctions.steps.states import Task

__all__ = ["TrainingStep", "ProcessingStep", "TransformStep", "TuningStep", "ModelStep", "EndpointConfigStep",
           "EndpointStep"]

_ARN = "arn:aws:states:::sagemaker:{}"


def _resource(api: str, sync: bool) -> str:
    return _ARN.format(api + (".sync" if sync else ""))


def _finished(request: dict[str, Any], name_key: str, name: Any, tags: list[dict[str, str]] | None
              ) -> dict[str, Any]:
    """A job step's parameters: the request named (a name or a placeholder), tagged, without the
    fields left empty."""
    request[name_key] = name
    if tags:
        request["Tags"] = tags
    return {k: v for k, v in request.items() if v is not None}


def _uploaded(session: Any, kind: str, request: dict[str, Any]) -> dict[str, Any]:
    from mlyard.jobs import _upload_local_references

    _upload_local_references(session.client, kind, request)
    return request


class TrainingStep(Task):
    """``createTrainingJob``: the estimator's training job on ``data`` (a URI, a TrainingInput, a
    dict of channels, or a placeholder of the training channel's URI)."""

    def __init__(self, state_id: str, estimator: Any, job_name: str | Placeholder, data: Any = None,
                 hyperparameters: dict[str, Any] | Placeholder | None = None, mini_batch_size: int | None = None,
                 experiment_config: Any = None, wait_for_completion: bool = True,
                 tags: list[dict[str, str]] | None = None, output_data_config_path: str | Placeholder | None = None,
                 **kwargs: Any) -> None:
        self.estimator = estimator
        source = estimator._source()  # its packed file lives until uploaded, below
        named = job_name if isinstance(job_name, str) else None
        channels = None if isinstance(data, Placeholder) else data
        request = _uploaded(estimator.sagemaker_session, "training", estimator._request(named, channels, source))
        del source
        if isinstance(data, Placeholder):
            request["InputDataConfig"] = [{"ChannelName": "training", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": data, "S3DataDistributionType": "FullyReplicated"}}}]
        if isinstance(hyperparameters, Placeholder):
            request["HyperParameters"] = hyperparameters
        elif hyperparameters:
            from mlyard.hyperparameters import encode_hyperparameters

            request["HyperParameters"].update(encode_hyperparameters(hyperparameters))
        if output_data_config_path is not None:
            request["OutputDataConfig"]["S3OutputPath"] = output_data_config_path
        kwargs.setdefault("parameters", _finished(request, "TrainingJobName", job_name, tags))
        super().__init__(state_id, resource=_resource("createTrainingJob", wait_for_completion), **kwargs)

    def get_expected_model(self, model_name: str | None = None) -> Any:
        """The model this step's job will make: its model data is this step's output's
        ``ModelArtifacts.S3ModelArtifacts`` (a ``ModelStep`` right after this step reads it)."""
        model = _model_without_data(self.estimator)
        model.model_data = self.output()["ModelArtifacts"]["S3ModelArtifacts"]
        if model_name:
            model.name = model_name
        return model


def _model_without_data(estimator: Any) -> Any:
    """The estimator's model (as ``create_model`` makes it), its model data filled in later."""
    return estimator._model("s3://mlyard-workflow/placeholder/model.tar.gz")


class ProcessingStep(Task):
    """``createProcessingJob``: the processor's job; its code is one of ``inputs`` and
    ``container_entrypoint`` runs it."""

    def __init__(self, state_id: str, processor: Any, job_name: str | Placeholder, inputs: list[Any] | None = None,
                 outputs: list[Any] | None = None, experiment_config: Any = None,
                 container_arguments: list[str] | None = None, container_entrypoint: list[str] | None = None,
                 kms_key_id: str | None = None, wait_for_completion: bool = True,
                 tags: list[dict[str, str]] | None = None, **kwargs: Any) -> None:
        named = job_name if isinstance(job_name, str) else None
        entrypoint = list(container_entrypoint or getattr(processor, "command", None) or [])
        request = processor._request(named, entrypoint, list(inputs or []), list(outputs or []),
                                     list(container_arguments or []), {})
        request = _uploaded(processor.sagemaker_session, "processing", request)
        kwargs.setdefault("parameters", _finished(request, "ProcessingJobName", job_name, tags))
        super().__init__(state_id, resource=_resource("createProcessingJob", wait_for_completion), **kwargs)


class ModelStep(Task):
    """``createModel`` of ``model`` (its model data may be a placeholder: ``get_expected_model``)."""

    def __init__(self, state_id: str, model: Any, model_name: str | Placeholder | None = None,
                 instance_type: str | None = None, tags: list[dict[str, str]] | None = None, **kwargs: Any) -> None:
        source = model._pack()
        name = model_name if model_name is not None else model.name
        request = model._request(name if isinstance(name, str) else None, source)
        request = _uploaded(model.sagemaker_session, "model", request)
        del source
        kwargs.setdefault("parameters", _finished(request, "ModelName", name, tags))
        super().__init__(state_id, resource=_resource("createModel", False), **kwargs)


class EndpointConfigStep(Task):
    """``createEndpointConfig``: one production variant of ``model_name``."""

    def __init__(self, state_id: str, endpoint_config_name: str | Placeholder, model_name: str | Placeholder,
                 initial_instance_count: int, instance_type: str, variant_name: str = "AllTraffic",
                 data_capture_config: Any = None, tags: list[dict[str, str]] | None = None, **kwargs: Any) -> None:
        request: dict[str, Any] = {
            "EndpointConfigName": endpoint_config_name,
            "ProductionVariants": [{"VariantName": variant_name, "ModelName": model_name,
                                    "InitialInstanceCount": initial_instance_count, "InstanceType": instance_type,
                                    "InitialVariantWeight": 1.0}]}
        if data_capture_config is not None:
            from mlyard.session import Session

            request["DataCaptureConfig"] = data_capture_config._to_request_dict(Session()._capture_destination())
        if tags:
            request["Tags"] = tags
        kwargs.setdefault("parameters", request)
        super().__init__(state_id, resource=_resource("createEndpointConfig", False), **kwargs)


class EndpointStep(Task):
    """``createEndpoint`` (or, with ``update``, ``updateEndpoint``) from an endpoint configuration."""

    def __init__(self, state_id: str, endpoint_name: str | Placeholder, endpoint_config_name: str | Placeholder,
                 tags: list[dict[str, str]] | None = None, update: bool = False, **kwargs: Any) -> None:
        request: dict[str, Any] = {"EndpointName": endpoint_name, "EndpointConfigName": endpoint_config_name}
        if tags and not update:
            request["Tags"] = tags
        kwargs.setdefault("parameters", request)
        super().__init__(state_id, resource=_resource("updateEndpoint" if update else "createEndpoint", False),
                         **kwargs)


class TransformStep(Task):
    """``createTransformJob``: the transformer's batch transform of ``data`` with the model
    ``model_name`` (a name or a placeholder: a model a ModelStep made earlier)."""

    def __init__(self, state_id: str, transformer: Any, job_name: str | Placeholder, model_name: str | Placeholder,
                 data: str | Placeholder, data_type: str = "S3Prefix", content_type: str | None = None,
                 compression_type: str | None = None, split_type: str | None = None, experiment_config: Any = None,
                 wait_for_completion: bool = True, tags: list[dict[str, str]] | None = None,
                 input_filter: str | None = None, output_filter: str | None = None, join_source: str | None = None,
                 **kwargs: Any) -> None:
        request = transformer._request(job_name if isinstance(job_name, str) else None, data, data_type,
                                       content_type, split_type, input_filter, output_filter, join_source,
                                       model_name=model_name)
        request = _uploaded(transformer.sagemaker_session, "transform", request)
        kwargs.setdefault("parameters", _finished(request, "TransformJobName", job_name, tags))
        super().__init__(state_id, resource=_resource("createTransformJob", wait_for_completion), **kwargs)


class TuningStep(Task):
    """``createHyperParameterTuningJob``: the tuner's tuning job on ``data``."""

    def __init__(self, state_id: str, tuner: Any, job_name: str | Placeholder, data: Any = None,
                 wait_for_completion: bool = True, tags: list[dict[str, str]] | None = None, **kwargs: Any) -> None:
        source = tuner.estimator._source() if tuner.estimator is not None else None
        request = tuner._request(job_name if isinstance(job_name, str) else None, data, True, source)
        request = _uploaded(tuner.sagemaker_session, "tuning", request)
        del source
        kwargs.setdefault("parameters", _finished(request, "HyperParameterTuningJobName", job_name, tags))
        super().__init__(state_id, resource=_resource("createHyperParameterTuningJob", wait_for_completion),
                         **kwargs)
