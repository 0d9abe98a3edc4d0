"""Estimators and training jobs, with the SageMaker Python SDK v2 signatures."""

from __future__ import annotations

import copy
import json
import warnings
from typing import TYPE_CHECKING, Any

from mlyard import image_uris
from mlyard.compat import cloud_only, resolve_versions
from mlyard.errors import ValidationError
from mlyard.hyperparameters import decode_hyperparameters, encode_hyperparameters, split_hyperparameters
from mlyard.inputs import FileSystemInput, TrainingInput
from mlyard.jobs import TrainingJob, _file_uri, base_name, check_instances, submit
from mlyard.session import Session
from mlyard.validation import TRAINING_ENVIRONMENT, check_hyperparameters, check_map, check_name, is_variable
from mlyard.workflow.entities import primitive_or_expr
from mlyard.workflow.pipeline_context import runnable_by_pipeline

if TYPE_CHECKING:
    from mlyard.client.sources import PackedSource

__all__ = ["EstimatorBase", "Estimator", "Framework"]

# SageMaker v1 argument names, accepted with a deprecation warning.
_V1_RENAMES = {
    "train_instance_type": "instance_type",
    "train_instance_count": "instance_count",
    "train_volume_size": "volume_size",
    "train_max_run": "max_run",
    "train_use_spot_instances": "use_spot_instances",
    "train_max_wait": "max_wait",
    "image_name": "image_uri",
}
# SageMaker arguments that mean nothing on a local machine; accepted so notebooks run unchanged.
_CLOUD_ONLY = {
    "volume_kms_key", "output_kms_key", "subnets", "security_group_ids", "model_uri", "model_channel_name",
    "encrypt_inter_container_traffic", "use_spot_instances", "max_wait", "rules", "debugger_hook_config",
    "tensorboard_output_config", "enable_sagemaker_metrics", "enable_network_isolation", "profiler_config",
    "disable_profiler", "max_retry_attempts", "container_log_level", "code_location", "instance_groups",
    "training_repository_access_mode", "training_repository_credentials_provider_arn", "enable_infra_check",
    "keep_alive_period_in_seconds", "retry_strategy", "training_image_config", "container_entry_point",
    "container_arguments", "disable_output_compression", "enable_remote_debug", "distribution", "py_version",
    "image_scope", "volume_size", "compiler_config", "image_uri_region", "environment_variables_from_secrets",
}
# Of those, the ones mlyard honours or that ask for nothing it lacks: accepted without a warning.
_HONOURED = {"container_log_level", "code_location", "enable_sagemaker_metrics", "disable_profiler", "image_scope",
             "py_version", "image_uri_region", "distribution"}
# ``distribution`` strategies whose environment every multi-host job gets (MASTER_ADDR, TF_CONFIG...).
_DISTRIBUTIONS = {"torch_distributed", "pytorchddp", "multi_worker_mirrored_strategy"}

def _channels(inputs: Any) -> list[dict[str, Any]]:
    if inputs is None:
        return []
    if isinstance(inputs, (str, TrainingInput, FileSystemInput)) or is_variable(inputs):
        inputs = {"training": inputs}
    if not isinstance(inputs, dict):
        raise ValidationError("inputs must be a URI, a TrainingInput, a FileSystemInput, or a dict of channel name "
                              "to any of them")
    channels = []
    for name, value in inputs.items():
        if isinstance(value, str) or is_variable(value):
            value = TrainingInput(value)
        if not isinstance(value, (TrainingInput, FileSystemInput)):
            raise ValidationError(f"channel {name!r}: expected a URI string, a TrainingInput or a FileSystemInput, "
                                  f"got {type(value).__name__}")
        cfg = copy.deepcopy(value.config)
        src = cfg["DataSource"].get("S3DataSource")
        if src is not None:  # a FileSystemDataSource names a folder on the server's machine: sent as is
            src["S3Uri"] = _file_uri(src["S3Uri"])
        channels.append({"ChannelName": name, **cfg})
    return channels


class EstimatorBase:
    """What every estimator shares: resources, channels, outputs, and the job it starts."""

    _framework: str | None = None
    _default_base_name = "training"

    def __init__(
        self,
        role: str | None = None,
        instance_count: int | None = None,
        instance_type: str | None = None,
        max_run: int = 24 * 60 * 60,
        input_mode: str = "File",
        output_path: str | None = None,
        base_job_name: str | None = None,
        sagemaker_session: Session | None = None,
        hyperparameters: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
        metric_definitions: list[dict[str, str]] | None = None,
        environment: dict[str, str] | None = None,
        checkpoint_s3_uri: str | None = None,
        checkpoint_local_path: str | None = None,
        entry_point: str | None = None,
        source_dir: str | None = None,
        git_config: dict[str, Any] | None = None,
        dependencies: list[str] | None = None,
        image_uri: str | None = None,
        sandbox: bool | None = None,
        **kwargs: Any,
    ) -> None:
        v1 = [old for old in (*_V1_RENAMES, "script_mode") if old in kwargs]
        if v1:
            renames = ", ".join(f"{old!r} -> {_V1_RENAMES[old]!r}" for old in v1 if old in _V1_RENAMES)
            note = "; 'script_mode' is not needed (script mode is always on)" if "script_mode" in v1 else ""
            warnings.warn(f"SageMaker SDK v1 arguments {v1}: use the v2 names ({renames}){note}",
                          DeprecationWarning, stacklevel=3)
            kwargs.pop("script_mode", None)
            renamed = {_V1_RENAMES[old]: kwargs.pop(old) for old in v1 if old in _V1_RENAMES}
            instance_type = renamed.get("instance_type", instance_type)
            instance_count = renamed.get("instance_count", instance_count)
            max_run = renamed.get("max_run", max_run)
            image_uri = renamed.get("image_uri", image_uri)
            kwargs.update({k: v for k, v in renamed.items()
                           if k not in ("instance_type", "instance_count", "max_run", "image_uri")})
        unknown = set(kwargs) - _CLOUD_ONLY - {"framework_version"}
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments: {sorted(unknown)}")
        owner = type(self).__name__
        unhonoured = {k: v for k, v in kwargs.items() if k in _CLOUD_ONLY and k not in _HONOURED}
        distribution = kwargs.get("distribution")
        if isinstance(distribution, dict):
            other = {k: v for k, v in distribution.items()
                     if k not in _DISTRIBUTIONS and not (isinstance(v, dict) and v.get("enabled") is False)}
            if other:
                unhonoured["distribution"] = other
        cloud_only(owner, unhonoured)
        spec = image_uris.parse(image_uri)
        if spec is not None and spec.framework is not None:
            if self._framework not in (None, "python", spec.framework):
                raise ValidationError(f"{owner}: image_uri {image_uri!r} is a {spec.framework} image; this "
                                      f"estimator runs {self._framework}: use the {spec.framework} estimator "
                                      "or an image of its own framework")
            self._framework = spec.framework
            if getattr(self, "framework_version", None) is None:
                self.framework_version = spec.version
        if not hasattr(self, "framework_version") and kwargs.get("framework_version") is not None:
            self.framework_version = kwargs["framework_version"]
        resolve_versions(owner, self._framework, getattr(self, "framework_version", None),
                         getattr(self, "py_version", None) or (spec.py_version if spec else None))
        self.role = role
        self.instance_count = check_instances(instance_type, instance_count)
        self.instance_type = instance_type
        self.max_run = max_run
        self.input_mode = input_mode
        self.output_path = _file_uri(output_path) if output_path else None
        self.base_job_name = base_job_name
        self.sagemaker_session = sagemaker_session or Session()
        self._hyperparameters: dict[str, Any] = dict(hyperparameters or {})
        self.tags = tags or []
        self.metric_definitions = metric_definitions or []
        self.environment = dict(environment or {})
        self.checkpoint_s3_uri = _file_uri(checkpoint_s3_uri) if checkpoint_s3_uri else None
        self.checkpoint_local_path = checkpoint_local_path
        self.entry_point = entry_point
        self.source_dir = source_dir
        self.git_config = git_config
        self.dependencies = list(dependencies or [])
        self.image_uri = image_uri
        self.sandbox = sandbox
        self.latest_training_job: TrainingJob | None = None
        self.jobs: list[TrainingJob] = []  # the training jobs this estimator started (or attached), oldest first
        self._current_job_name: str | None = None
        self._check_hyperparameters(self._hyperparameters)

    # -- hyperparameters --------------------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        return dict(self._hyperparameters)

    def set_hyperparameters(self, **kwargs: Any) -> None:
        self._check_hyperparameters(kwargs)
        self._hyperparameters.update(kwargs)

    @staticmethod
    def _check_hyperparameters(hps: dict[str, Any]) -> None:
        for key, value in hps.items():
            try:
                json.dumps(primitive_or_expr(value))
            except (TypeError, ValueError) as exc:
                raise ValidationError(
                    f"hyperparameter {key!r} = {value!r} cannot be JSON-encoded ({exc}); use str, int, "
                    "float, bool, or lists and dicts of them") from None

    def _framework_hyperparameters(self, job_name: str | None, program: str, submit: str) -> dict[str, Any]:
        return {"sagemaker_program": program, "sagemaker_submit_directory": submit,
                "sagemaker_container_log_level": 20, "sagemaker_job_name": job_name or "", "sagemaker_region": "local"}

    # -- training -----------------------------------------------------------------------------
    def _base_name(self) -> str:
        return base_name(self.base_job_name, self.image_uri, self._default_base_name)

    def _source(self) -> PackedSource:
        """The packed source (``sourcedir.tar.gz``) and the entry point's path in it."""
        if self.entry_point:
            from mlyard.client.sources import pack_source

            return pack_source(self.entry_point, self.source_dir, self.dependencies, self.git_config)
        if self.image_uri:
            raise ValidationError(
                f"mlyard runs no containers, so image_uri {self.image_uri!r} alone cannot be run: give the "
                "estimator the entry_point (and source_dir) of the script the image would run.")
        raise ValidationError("the estimator needs an entry_point (a .py, .sh or executable in source_dir)")

    def _request(self, job_name: str | None, inputs: Any, source: PackedSource) -> dict[str, Any]:
        """The CreateTrainingJob request: pure (nothing uploaded, no name chosen), so it can be
        serialized before the job exists. ``source`` (from ``_source``) and local channels appear as
        ``file://`` references, which ``jobs.submit`` uploads; without ``job_name`` the server
        names the job from ``MlyardConfig.BaseName`` (and fills in ``sagemaker_job_name``)."""
        if job_name is not None:
            check_name("job_name", job_name)
        environment = {str(k): str(v) for k, v in self.environment.items()}
        check_map("environment variable", environment, TRAINING_ENVIRONMENT)

        def encoded(submit: str) -> dict[str, str]:
            hps = {**self._hyperparameters, **self._framework_hyperparameters(job_name, source.program, submit)}
            return encode_hyperparameters(hps)

        check_hyperparameters(encoded(""))
        request: dict[str, Any] = {
            "TrainingJobName": job_name,
            "HyperParameters": encoded(f"file://{source.path}"),
            "AlgorithmSpecification": {"TrainingImage": self.image_uri or self._image_name(),
                                       "TrainingInputMode": self.input_mode,
                                       "MetricDefinitions": self.metric_definitions},
            "RoleArn": self.role,
            "InputDataConfig": _channels(inputs),
            "OutputDataConfig": {"S3OutputPath": self.output_path},
            "ResourceConfig": {"InstanceType": self.instance_type, "InstanceCount": self.instance_count},
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_run},
            "Environment": environment,
            "Tags": self.tags,
            "MlyardConfig": {
                "Framework": self._framework,
                "FrameworkVersion": getattr(self, "framework_version", None),
                "Sandbox": bool(self.sandbox if self.sandbox is not None else self.sagemaker_session.sandbox),
                "BaseName": self._base_name(),
                "DefaultOutput": self.sagemaker_session._default_output(),
            },
        }
        if self.checkpoint_s3_uri:
            request["CheckpointConfig"] = {"S3Uri": self.checkpoint_s3_uri,
                                           "LocalPath": self.checkpoint_local_path or "/opt/ml/checkpoints"}
        return request

    def _image_name(self) -> str:
        """The image a job records when no ``image_uri`` was given (``image_uris``' scheme)."""
        framework = self._framework if self._framework in image_uris.FRAMEWORKS else None
        return image_uris.image_name(framework, getattr(self, "framework_version", None), "training")

    @runnable_by_pipeline
    def fit(self, inputs: Any = None, wait: bool = True, logs: bool | str = "All", job_name: str | None = None,
            experiment_config: dict[str, Any] | None = None) -> None:
        """Start a training job on ``inputs`` (a URI, a ``TrainingInput`` or a dict of channels);
        with ``wait``, stream its logs and return when it ends."""
        source = self._source()  # kept until submitted: its file is removed with it
        name = submit(self.sagemaker_session, "training", self._request(job_name, inputs, source))["TrainingJobName"]
        self._current_job_name = name
        self.latest_training_job = TrainingJob(self.sagemaker_session, name)
        self.jobs.append(self.latest_training_job)
        if wait:
            self.latest_training_job.wait(logs=logs)

    # -- results --------------------------------------------------------------------------------
    def _job(self) -> TrainingJob:
        if self.latest_training_job is None:
            raise ValidationError("this estimator has not started a training job yet: call fit() first")
        return self.latest_training_job

    @property
    def model_data(self) -> str | None:
        desc = self._job().describe()
        return (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")

    @property
    def training_job_analytics(self) -> Any:
        from mlyard.analytics import TrainingJobAnalytics

        return TrainingJobAnalytics(self._job().job_name, sagemaker_session=self.sagemaker_session)

    def logs(self) -> None:
        self._job().logs(follow=True)

    def create_model(self, role: str | None = None, **kwargs: Any) -> Any:
        """A model of what the latest training job produced."""
        return self._model(self.model_data, role, **kwargs)

    def _model(self, model_data: Any, role: str | None = None, **kwargs: Any) -> Any:
        """This estimator's kind of model, of ``model_data``."""
        from mlyard.model import Model

        return Model(image_uri=self.image_uri, model_data=model_data, role=role or self.role,
                     sagemaker_session=self.sagemaker_session, **kwargs)

    def deploy(self, initial_instance_count: int | None = None, instance_type: str | None = None,
               serializer: Any = None, deserializer: Any = None, accelerator_type: str | None = None,
               endpoint_name: str | None = None, **kwargs: Any) -> Any:
        """Deploy the latest training job's model to a local endpoint; return its predictor."""
        return self.create_model().deploy(initial_instance_count, instance_type, serializer=serializer,
                                          deserializer=deserializer, accelerator_type=accelerator_type,
                                          endpoint_name=endpoint_name, **kwargs)

    def transformer(self, instance_count: int, instance_type: str, **kwargs: Any) -> Any:
        """A batch transformer for the latest training job's model."""
        return self.create_model().transformer(instance_count, instance_type, **kwargs)

    @classmethod
    def attach(cls, training_job_name: str, sagemaker_session: Session | None = None,
               model_channel_name: str = "model") -> EstimatorBase:
        """An estimator for an existing training job, as ``fit(wait=False)`` left it."""
        session = sagemaker_session or Session()
        desc = session.describe_training_job(training_job_name)
        init = cls._init_params_from_job(desc)
        est = cls(sagemaker_session=session, **init)
        est._current_job_name = training_job_name
        est.latest_training_job = TrainingJob(session, training_job_name)
        est.jobs.append(est.latest_training_job)
        return est

    @classmethod
    def _init_params_from_job(cls, desc: dict[str, Any]) -> dict[str, Any]:
        user, reserved, _ = split_hyperparameters(decode_hyperparameters(desc.get("HyperParameters") or {}))
        algo = desc.get("AlgorithmSpecification") or {}
        params: dict[str, Any] = {
            "role": desc.get("RoleArn"),
            "instance_count": desc["ResourceConfig"]["InstanceCount"],
            "instance_type": desc["ResourceConfig"]["InstanceType"],
            "max_run": (desc.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 24 * 3600,
            "output_path": (desc.get("OutputDataConfig") or {}).get("S3OutputPath"),
            "hyperparameters": user,
            "metric_definitions": algo.get("MetricDefinitions") or [],
            "environment": desc.get("Environment") or {},
            "entry_point": reserved.get("sagemaker_program"),
            "source_dir": reserved.get("sagemaker_submit_directory"),
        }
        cfg = desc.get("MlyardConfig") or {}
        if cfg.get("FrameworkVersion"):
            params["framework_version"] = cfg["FrameworkVersion"]
        return params


class Estimator(EstimatorBase):
    """A training job of any script: ``entry_point`` (+ ``source_dir``), with ``image_uri`` recorded
    as the job's image."""

    def __init__(self, image_uri: str | None = None, role: str | None = None, instance_count: int | None = None,
                 instance_type: str | None = None, **kwargs: Any) -> None:
        super().__init__(role=role, instance_count=instance_count, instance_type=instance_type,
                         image_uri=image_uri, **kwargs)


class Framework(EstimatorBase):
    """A framework's script-mode estimator (TensorFlow, PyTorch, SKLearn)."""

    _framework = "python"
    _model_cls = ""  # "module.Class" of the framework's Model (imported when a model is made)
    _serves_with_training_code = False  # its models' inference code is the training script, by default

    def __init__(self, entry_point: str, source_dir: str | None = None, hyperparameters: dict[str, Any] | None = None,
                 framework_version: str | None = None, py_version: str | None = None, image_uri: str | None = None,
                 **kwargs: Any) -> None:
        if framework_version is None and image_uri is None:
            raise ValidationError(f"{type(self).__name__} needs framework_version (or image_uri)")
        self.framework_version = framework_version
        self.py_version = py_version
        super().__init__(entry_point=entry_point, source_dir=source_dir, hyperparameters=hyperparameters,
                         image_uri=image_uri, **kwargs)

    def _model(self, model_data: Any, role: str | None = None, **kwargs: Any) -> Any:
        """The framework's model of ``model_data``. A framework whose models serve with the training
        script as their inference code (SageMaker's scikit-learn and PyTorch) passes it, with its
        source_dir and dependencies, unless ``kwargs`` name other code."""
        if not self._model_cls:
            return super()._model(model_data, role, **kwargs)
        import importlib

        if self._serves_with_training_code and "entry_point" not in kwargs:
            kwargs.update(entry_point=self.entry_point, source_dir=kwargs.get("source_dir", self.source_dir),
                          dependencies=kwargs.get("dependencies", self.dependencies),
                          git_config=kwargs.get("git_config", self.git_config))
        module, _, name = self._model_cls.rpartition(".")
        model_cls = getattr(importlib.import_module(module), name)
        return model_cls(model_data=model_data, role=role or self.role, framework_version=self.framework_version,
                         sagemaker_session=self.sagemaker_session, **kwargs)
