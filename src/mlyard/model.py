"""Models and their deployment to endpoints (SageMaker's ``sagemaker.model``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlyard import image_uris
from mlyard.compat import cloud_only, resolve_versions, serving_instance_type
from mlyard.deserializers import BaseDeserializer
from mlyard.errors import ValidationError
from mlyard.jobs import _deploy_config, _file_uri, submit
from mlyard.predictor import Predictor
from mlyard.serializers import BaseSerializer
from mlyard.session import Session
from mlyard.validation import MODEL_ENVIRONMENT, check_count, check_map, check_name
from mlyard.workflow.pipeline_context import runnable_by_pipeline

if TYPE_CHECKING:
    from mlyard.client.sources import PackedSource

__all__ = ["Model", "FrameworkModel", "ModelPackage"]


# Model arguments of SageMaker's that mlyard honours (or that ask for nothing it lacks): no warning.
_MODEL_HONOURED = {"container_log_level", "code_location", "image_uri_region"}
_PREDICTORS = {"tensorflow": "mlyard.tensorflow.model.TensorFlowPredictor",
               "pytorch": "mlyard.pytorch.model.PyTorchPredictor", "sklearn": "mlyard.sklearn.model.SKLearnPredictor"}


class StoredSource:
    """Inference code already in the store (a ``sourcedir.tar.gz``) and its entry point."""

    def __init__(self, uri: str, program: str) -> None:
        self.uri = uri
        self.program = program


class Model:
    """A model artifact (``model_data``: a model.tar.gz or a folder) with optional inference code
    (``entry_point`` + ``source_dir``), deployable to local endpoints."""

    _framework: str | None = None
    _default_predictor: type[Predictor] = Predictor

    def __init__(self, image_uri: str | None = None, model_data: str | None = None, role: str | None = None,
                 predictor_cls: type[Predictor] | None = None, env: dict[str, str] | None = None,
                 name: str | None = None, entry_point: str | None = None, source_dir: str | None = None,
                 dependencies: list[str] | None = None, git_config: dict[str, Any] | None = None,
                 sagemaker_session: Session | None = None, **kwargs: Any) -> None:
        if model_data is None and entry_point is None:
            raise ValidationError("a Model needs model_data (a model.tar.gz or a model folder) or an entry_point")
        owner = type(self).__name__
        cloud_only(owner, {k: v for k, v in kwargs.items() if k not in _MODEL_HONOURED})
        spec = image_uris.parse(image_uri)
        if spec is not None and spec.framework is not None:
            if self._framework not in (None, spec.framework):
                raise ValidationError(f"{owner}: image_uri {image_uri!r} is a {spec.framework} image; this model is "
                                      f"a {self._framework} model: use the {spec.framework} model class")
            if self._framework is None and predictor_cls is None:  # the framework's predictor, as its model has
                module, _, cls_name = _PREDICTORS[spec.framework].rpartition(".")
                predictor_cls = getattr(importlib.import_module(module), cls_name)
            self._framework = spec.framework
            if getattr(self, "framework_version", None) is None:
                self.framework_version = spec.version
        resolve_versions(owner, self._framework, getattr(self, "framework_version", None),
                         getattr(self, "py_version", None) or (spec.py_version if spec else None))
        self.image_uri = image_uri
        self.model_data = _file_uri(model_data) if model_data else None
        self.role = role
        self.predictor_cls = predictor_cls or self._default_predictor
        self.env = dict(env or {})
        self.name = name
        self.entry_point = entry_point
        self.source_dir = source_dir
        self.dependencies = list(dependencies or [])
        self.git_config = git_config
        self.sagemaker_session = sagemaker_session or Session()
        self.endpoint_name: str | None = None

    def _base_name(self) -> str:
        return f"{self._framework}-model" if self._framework else "model"

    def _request(self, name: str | None, source: PackedSource | StoredSource | None) -> dict[str, Any]:
        """The CreateModel request: pure (see ``jobs.submit``: local model data and code are
        ``file://`` references); the server names the model from ``MlyardConfig.BaseName`` when
        ``name`` is None."""
        env = {str(k): str(v) for k, v in self.env.items()}
        cfg: dict[str, Any] = {"Framework": self._framework,
                               "FrameworkVersion": getattr(self, "framework_version", None),
                               "BaseName": self._base_name()}
        if source is not None:
            env["SAGEMAKER_PROGRAM"] = source.program
        check_map("environment variable", env, MODEL_ENVIRONMENT)
        if name is not None:
            check_name("model name", name)
        if source is not None:
            cfg["SourceUrl"] = source.uri if isinstance(source, StoredSource) else f"file://{source.path}"
        return {"ModelName": name, "ExecutionRoleArn": self.role,
                "PrimaryContainer": {"Image": self.image_uri, "ModelDataUrl": self.model_data, "Environment": env},
                "MlyardConfig": cfg}

    def _pack(self) -> Any:
        """The model's inference code, packed (None: it has none); ``_request`` takes it, and the
        caller keeps it until the request is submitted. A ``source_dir`` that is a stored
        ``sourcedir.tar.gz`` (an attached estimator's, as SageMaker's attach gives it) is used as
        it is."""
        if not self.entry_point:
            return None
        if self.source_dir and "://" in self.source_dir and not self.source_dir.startswith("file://"):
            if not self.source_dir.endswith(".tar.gz"):
                raise ValidationError(f"source_dir {self.source_dir!r}: a stored source_dir must be a "
                                      "sourcedir.tar.gz; a local folder is packed and uploaded")
            return StoredSource(self.source_dir, self.entry_point)
        from mlyard.client.sources import pack_source

        return pack_source(self.entry_point, self.source_dir, self.dependencies, self.git_config)

    @runnable_by_pipeline
    def create(self) -> str:
        """Record the model in the catalog (once); return its name."""
        if self.name is None or not getattr(self, "_created", False):
            source = self._pack()
            self.name = submit(self.sagemaker_session, "model", self._request(self.name, source))["ModelName"]
            self._created = True
        return self.name

    @runnable_by_pipeline
    def register(self, content_types: list[str] | None = None, response_types: list[str] | None = None,
                 inference_instances: list[str] | None = None, transform_instances: list[str] | None = None,
                 model_package_name: str | None = None, model_package_group_name: str | None = None,
                 image_uri: str | None = None, model_metrics: Any = None, metadata_properties: Any = None,
                 marketplace_cert: bool = False, approval_status: Any = None, description: str | None = None,
                 drift_check_baselines: Any = None, customer_metadata_properties: dict[str, str] | None = None,
                 validation_specification: Any = None, domain: str | None = None, task: str | None = None,
                 sample_payload_url: str | None = None, framework: str | None = None,
                 framework_version: str | None = None, nearest_model_name: str | None = None,
                 data_input_configuration: Any = None, skip_model_validation: Any = None,
                 source_uri: str | None = None, **kwargs: Any) -> Any:
        """Register this model as a version of ``model_package_group_name`` in the model registry
        (or as the package ``model_package_name``); returns its ``ModelPackage``. Its approval
        status is ``approval_status`` (default PendingManualApproval)."""
        if not model_package_group_name and not model_package_name:
            raise ValidationError("register needs model_package_group_name (a version in that group) or "
                                  "model_package_name")
        source = self._pack()  # kept until submitted
        request = self._request(None, source)
        container = {**request["PrimaryContainer"], "Framework": framework or self._framework,
                     "FrameworkVersion": framework_version or getattr(self, "framework_version", None),
                     "MlyardConfig": request["MlyardConfig"]}
        if image_uri:
            container["Image"] = image_uri
        spec = {"Containers": [container], "SupportedContentTypes": list(content_types or []),
                "SupportedResponseMIMETypes": list(response_types or []),
                "SupportedRealtimeInferenceInstanceTypes": list(inference_instances or []),
                "SupportedTransformInstanceTypes": list(transform_instances or [])}
        package: dict[str, Any] = {
            "ModelPackageGroupName": model_package_group_name, "ModelPackageName": model_package_name,
            "InferenceSpecification": spec, "ModelApprovalStatus": approval_status,
            "ModelPackageDescription": description, "CustomerMetadataProperties": customer_metadata_properties,
            "Domain": domain, "Task": task, "MlyardUser": _user()}
        if model_metrics is not None:
            package["ModelMetrics"] = model_metrics._to_request_dict()
        package = {k: v for k, v in package.items() if v is not None}
        created = submit(self.sagemaker_session, "model-package", package)
        return ModelPackage(role=self.role, model_package_arn=created["ModelPackageArn"],
                            predictor_cls=self.predictor_cls, sagemaker_session=self.sagemaker_session)

    def deploy(self, initial_instance_count: int | None = None, instance_type: str | None = None,
               serializer: BaseSerializer | None = None, deserializer: BaseDeserializer | None = None,
               accelerator_type: str | None = None, endpoint_name: str | None = None,
               tags: list[dict[str, str]] | None = None, kms_key: str | None = None, wait: bool = True,
               data_capture_config: Any = None, max_batch_size: int = 64, max_latency_ms: float = 2.0,
               port: int | None = None, **kwargs: Any) -> Predictor:
        """Start an endpoint of ``initial_instance_count`` instances serving this model; return a
        predictor for it. ``port`` fixes the endpoint's port (default: a free one). SageMaker's
        cloud-only arguments (``kms_key``, ``volume_size``, serverless and asynchronous
        configurations...) are accepted with one warning; a serverless endpoint runs on a
        ``local`` instance."""
        cloud_only(f"{type(self).__name__}.deploy", {"kms_key": kms_key, **kwargs})
        instance_type = serving_instance_type(f"{type(self).__name__}.deploy", instance_type, accelerator_type,
                                              kwargs)
        count = 1 if initial_instance_count is None else check_count("initial_instance_count",
                                                                     initial_instance_count)
        if endpoint_name is not None:
            check_name("endpoint_name", endpoint_name)
        model_name = self.create()
        endpoint_name = endpoint_name or model_name
        variant = {"VariantName": "AllTraffic", "ModelName": model_name,
                   "InitialInstanceCount": count, "InstanceType": instance_type,
                   "InitialVariantWeight": 1.0}
        capture = None
        if data_capture_config is not None:
            capture = data_capture_config._to_request_dict(self.sagemaker_session._capture_destination())
        config = _deploy_config(endpoint_name, [variant], capture,
                                {"MaxBatchSize": max_batch_size, "MaxLatencyMs": max_latency_ms})
        config_name = submit(self.sagemaker_session, "endpoint-config", config)["EndpointConfigName"]
        submit(self.sagemaker_session, "endpoint", {"EndpointName": endpoint_name, "EndpointConfigName": config_name,
                                                    "Tags": tags or [], "MlyardConfig": {"Port": port or 0}})
        self.endpoint_name = endpoint_name
        predictor = self.predictor_cls(endpoint_name, sagemaker_session=self.sagemaker_session)
        if serializer is not None:
            predictor.serializer = serializer
        if deserializer is not None:
            predictor.deserializer = deserializer
        if wait:
            predictor._wait()
        return predictor

    def transformer(self, instance_count: int, instance_type: str, **kwargs: Any) -> Any:
        from mlyard.transformer import Transformer

        return Transformer(self.create(), instance_count, instance_type,
                           sagemaker_session=self.sagemaker_session, **kwargs)

    def delete_model(self) -> None:
        if self.name:
            self.sagemaker_session.client.delete_model(self.name)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        return "unknown"


class ModelPackage(Model):
    """A model package of the registry (``model_package_arn``, or ``group/version``): deployed and
    used for batch transform as the model its inference specification describes."""

    def __init__(self, role: str | None = None, model_data: str | None = None, algorithm_arn: str | None = None,
                 model_package_arn: str | None = None, sagemaker_session: Session | None = None,
                 predictor_cls: type[Predictor] | None = None, **kwargs: Any) -> None:
        if not model_package_arn:
            raise ValidationError("ModelPackage needs model_package_arn (the registered version's ARN, or "
                                  "GROUP/VERSION)")
        if algorithm_arn:
            raise ValidationError("algorithm packages (algorithm_arn) run in SageMaker's cloud only")
        session = sagemaker_session or Session()
        desc = session.client.describe_model_package(model_package_arn)
        container = desc["InferenceSpecification"]["Containers"][0]
        self.model_package_arn = desc["ModelPackageArn"]
        self._config = dict(container.get("MlyardConfig") or {})
        self._framework = container.get("Framework") or self._config.get("Framework")
        if predictor_cls is None and self._framework in _PREDICTORS:
            module, _, cls_name = _PREDICTORS[self._framework].rpartition(".")
            predictor_cls = getattr(importlib.import_module(module), cls_name)
        self.framework_version = container.get("FrameworkVersion") or self._config.get("FrameworkVersion")
        super().__init__(image_uri=container.get("Image"), model_data=model_data or container.get("ModelDataUrl"),
                         role=role, predictor_cls=predictor_cls, env=container.get("Environment") or {},
                         sagemaker_session=session, **kwargs)

    def _pack(self) -> Any:
        return None  # the package's code is stored already (its SourceUrl)

    def _request(self, name: str | None, source: PackedSource | StoredSource | None) -> dict[str, Any]:
        request = super()._request(name, source)
        request["MlyardConfig"] = {**self._config, "BaseName": self._base_name()}
        return request

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.sagemaker_session.client.describe_model_package(self.model_package_arn)
        return described

    def update_approval_status(self, approval_status: str, approval_description: str | None = None) -> None:
        self.sagemaker_session.client.update_model_package({
            "ModelPackageArn": self.model_package_arn, "ModelApprovalStatus": approval_status,
            "ApprovalDescription": approval_description, "MlyardUser": _user()})


class FrameworkModel(Model):
    """A framework's model; its subclasses take SageMaker's positional order for their framework."""

    def __init__(self, model_data: str | None = None, image_uri: str | None = None, role: str | None = None,
                 entry_point: str | None = None, framework_version: str | None = None,
                 py_version: str | None = None, model_server_workers: int | None = None, **kwargs: Any) -> None:
        self.framework_version = framework_version
        self.py_version = py_version
        if model_server_workers is not None:
            kwargs["model_server_workers"] = model_server_workers  # warned about: not applied
        super().__init__(image_uri=image_uri, model_data=model_data, role=role, entry_point=entry_point, **kwargs)
