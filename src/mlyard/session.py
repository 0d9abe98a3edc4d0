"""``Session``: the SDK's handle on a control plane (SageMaker's ``sagemaker.Session``)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlyard import image_uris
from mlyard.client import Client, default_client
from mlyard.compat import cloud_only, serving_instance_type
from mlyard.errors import UnexpectedStatusException, ValidationError

if TYPE_CHECKING:
    from mlyard.jobs import Job
    from mlyard.local.local_session import LocalSession  # at run time: the module's __getattr__

__all__ = ["Session", "LocalSession", "SageMakerClient", "get_execution_role", "container_def", "production_variant"]

_ROLE = "arn:aws:iam::000000000000:role/mlyard-local"


class Session:
    """Talks to the control plane named by ``MLYARD_URL``/``MLYARD_TOKEN``, or to the local one
    (started on first use). ``sandbox=True`` makes every job of this session run sandboxed.

    The signature is SageMaker's, so that ``Session(boto_session)`` and
    ``Session(sagemaker_client=boto3.client("sagemaker"))`` in a notebook run unchanged: the AWS
    objects are kept as attributes and take no part in control-plane calls. An mlyard ``Client``
    is given as the keyword ``client=``."""

    def __init__(self, boto_session: Any = None, sagemaker_client: Any = None, sagemaker_runtime_client: Any = None,
                 sagemaker_featurestore_runtime_client: Any = None, default_bucket: str | None = None,
                 settings: Any = None, sagemaker_metrics_client: Any = None, sagemaker_config: Any = None,
                 default_bucket_prefix: str | None = None, default_bucket_prefix_policy: Any = None, *,
                 client: Client | None = None, sandbox: bool = False) -> None:
        for what, value in (("boto_session", boto_session), ("sagemaker_client", sagemaker_client),
                            ("sagemaker_runtime_client", sagemaker_runtime_client)):
            if isinstance(value, Client):
                raise ValidationError(f"Session({what}=<mlyard Client>): an mlyard Client is given as the keyword "
                                      "argument client=, e.g. Session(client=my_client); the first arguments "
                                      "are SageMaker's AWS sessions and clients")
        if client is not None and not isinstance(client, Client):
            raise ValidationError(f"Session(client=...) takes an mlyard.client.Client, not "
                                  f"{type(client).__name__}; AWS clients go in boto_session= or sagemaker_client=")
        if default_bucket_prefix is not None and (not isinstance(default_bucket_prefix, str)
                                                  or "://" in default_bucket_prefix):
            raise ValidationError(f"default_bucket_prefix {default_bucket_prefix!r} must be a key prefix inside "
                                  "the bucket (such as 'my-project'), not a URI")
        self._client = client
        self._default_bucket = default_bucket
        self.default_bucket_prefix = (default_bucket_prefix or "").strip("/") or None
        self.default_bucket_prefix_policy = default_bucket_prefix_policy
        self.sandbox = sandbox
        self.local_mode = True
        # SageMaker's AWS objects: kept for code that reads them back, never used by mlyard.
        self.boto_session = boto_session
        self.sagemaker_runtime_client = sagemaker_runtime_client
        self.sagemaker_featurestore_runtime_client = sagemaker_featurestore_runtime_client
        self.sagemaker_metrics_client = sagemaker_metrics_client
        self.settings = settings
        self.sagemaker_config = sagemaker_config
        self._boto_sagemaker_client = sagemaker_client
        self._adapter: SageMakerClient | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = default_client()
        return self._client

    def _server_info(self) -> dict[str, Any]:
        """The server's ``/v1/health`` (asked once per session: region, account and buckets do not
        change while it runs)."""
        info: dict[str, Any] | None = getattr(self, "_health", None)
        if info is None:
            info = self._health = self.client.health()
        return info

    @property
    def boto_region_name(self) -> str:
        """The server's region (``MLYARD_REGION``, default ``local``)."""
        return str(self._server_info().get("region") or "local")

    def account_id(self) -> str:
        """The installation's account: 12 digits, stable per server home."""
        return str(self._server_info()["account_id"])

    def default_bucket(self) -> str:
        """The default bucket's NAME, as SageMaker returns it (``mlyard-<region>-<account>``): build
        URIs as ``f"s3://{sess.default_bucket()}/prefix"``. mlyard keeps it in its own store."""
        if not self._default_bucket:
            self._default_bucket = str(self._server_info()["default_bucket"])
        return self._default_bucket

    def _default_output(self) -> str | None:
        """Where this Session's jobs put outputs that name no destination, when it is not the
        server's default: ``s3://<its default bucket>[/<default_bucket_prefix>]`` (SageMaker builds
        its default output paths from the Session's bucket and prefix). None: the server's default."""
        bucket = self.default_bucket()
        if bucket == str(self._server_info()["default_bucket"]) and not self.default_bucket_prefix:
            return None
        base = f"s3://{bucket}"
        return f"{base}/{self.default_bucket_prefix}" if self.default_bucket_prefix else base

    def _capture_destination(self) -> str:
        """Where an endpoint's captured data goes when its DataCaptureConfig names no destination."""
        return f"{self._default_output() or 's3://' + self.default_bucket()}/data-capture"

    def create_bucket(self, name: str) -> str:
        """(mlyard only) Make ``name`` a bucket kept in mlyard's own store; return ``name``."""
        self.client.create_bucket(name)
        return name

    def _prefixed(self, bucket: str | None, key_prefix: str) -> tuple[str, str]:
        """``bucket`` (default: the default bucket, under ``default_bucket_prefix`` if set) and the key prefix."""
        if bucket:
            return bucket, key_prefix.strip("/")
        prefix = (getattr(self, "default_bucket_prefix", None) or "").strip("/")
        return self.default_bucket(), "/".join(p for p in (prefix, key_prefix.strip("/")) if p)

    def upload_data(self, path: str, bucket: str | None = None, key_prefix: str = "data",
                    extra_args: Any = None) -> str:
        """Upload a file or a directory to ``s3://bucket/key_prefix`` (default: the default bucket);
        return ``s3://bucket/key_prefix/<file name>`` for a file, ``s3://bucket/key_prefix`` for a
        directory (its files keep their paths below it), as SageMaker does."""
        from mlyard.s3 import s3_path_join

        src = Path(path)
        if not src.exists():
            raise ValidationError(f"upload_data: path {path!r} does not exist")
        bucket, prefix = self._prefixed(bucket, key_prefix)
        base = s3_path_join("s3://", bucket, prefix)
        if src.is_file():
            return self.client.upload_uri(s3_path_join(base, src.name), src)
        files = sorted(p for p in src.rglob("*") if p.is_file())
        if not files:
            raise ValidationError(f"upload_data: directory {path!r} is empty")
        for f in files:
            self.client.upload_uri(s3_path_join(base, f.relative_to(src).as_posix()), f)
        return base

    def upload_string_as_file_body(self, body: str, bucket: str, key: str, kms_key: str | None = None) -> str:
        """Write ``body`` as the object ``s3://bucket/key``; return its URI."""
        from mlyard.s3 import s3_path_join

        return self.client.upload_uri(s3_path_join("s3://", bucket, key), body.encode())

    def list_s3_files(self, bucket: str, key_prefix: str) -> list[str]:
        """The keys of every object under ``s3://bucket/key_prefix``."""
        from mlyard.s3 import parse_s3_url, s3_path_join

        return [parse_s3_url(u)[1] for u in self.client.list_uri(s3_path_join("s3://", bucket, key_prefix))]

    def read_s3_file(self, bucket: str, key_prefix: str) -> str:
        """The object ``s3://bucket/key_prefix`` as text (UTF-8)."""
        from mlyard.s3 import s3_path_join

        return self.client.read_uri(s3_path_join("s3://", bucket, key_prefix)).decode("utf-8")

    def download_data(self, path: str, bucket: str, key_prefix: str = "", extra_args: Any = None) -> list[str]:
        """Download the object ``s3://bucket/key_prefix``, or every object under that prefix (their
        paths below it kept), into the folder ``path``; return the local files' paths."""
        from mlyard.s3 import s3_path_join

        uri = s3_path_join("s3://", bucket, key_prefix)
        objects = self.client.list_uri(uri)
        if not objects:
            raise ValidationError(f"download_data: nothing found at {uri!r}")
        targets = [(obj, _download_target(path, uri, obj)) for obj in objects]  # all checked before any is written
        return [str(self.client.download(obj, target)) for obj, target in targets]

    # -- training, processing, transform and tuning jobs -----------------------------------------
    def _job(self, kind: str, name: str) -> Job:
        """The job object of ``kind`` for ``name`` (nothing is asked of the server yet)."""
        if not isinstance(name, str) or not name:
            raise ValidationError(f"a {kind} job's name must be a non-empty string, not {name!r}")
        if kind == "training":
            from mlyard.jobs import TrainingJob

            return TrainingJob(self, name)
        if kind == "processing":
            from mlyard.processing import ProcessingJob

            return ProcessingJob(self, name)
        if kind == "transform":
            from mlyard.transformer import TransformJob

            return TransformJob(self, name)
        from mlyard.tuner import _TuningJob

        return _TuningJob(self, name)

    def describe_training_job(self, job_name: str) -> dict[str, Any]:
        """SageMaker's DescribeTrainingJob (NotFoundError if no training job has that name)."""
        return self._job("training", job_name).describe()

    def describe_processing_job(self, job_name: str) -> dict[str, Any]:
        return self._job("processing", job_name).describe()

    def describe_transform_job(self, job_name: str) -> dict[str, Any]:
        return self._job("transform", job_name).describe()

    def describe_tuning_job(self, job_name: str) -> dict[str, Any]:
        return self._job("tuning", job_name).describe()

    def stop_training_job(self, job_name: str) -> None:
        self._job("training", job_name).stop()

    def stop_processing_job(self, job_name: str) -> None:
        self._job("processing", job_name).stop()

    def stop_transform_job(self, name: str) -> None:
        self._job("transform", name).stop()

    def stop_tuning_job(self, name: str) -> None:
        self._job("tuning", name).stop()

    def wait_for_job(self, job: str, poll: int = 5) -> dict[str, Any]:
        """Block until the training job ``job`` ends; its description. ``UnexpectedStatusException``
        if it failed. (``poll`` is accepted for SageMaker's signature: the server is long-polled.)"""
        return self._job("training", job)._wait_ended()

    def wait_for_processing_job(self, job: str, poll: int = 5) -> dict[str, Any]:
        return self._job("processing", job)._wait_ended()

    def wait_for_transform_job(self, job: str, poll: int = 5) -> dict[str, Any]:
        return self._job("transform", job)._wait_ended()

    def wait_for_tuning_job(self, job: str, poll: int = 5) -> dict[str, Any]:
        return self._job("tuning", job)._wait_ended()

    def logs_for_job(self, job_name: str, wait: bool = False, poll: int = 10, log_type: str = "All",
                     timeout: int | None = None) -> None:
        """Print the training job's logs; with ``wait``, follow them until the job ends and raise
        ``UnexpectedStatusException`` if it failed."""
        self._logs("training", job_name, wait)

    def logs_for_processing_job(self, job_name: str, wait: bool = False, poll: int = 10) -> None:
        self._logs("processing", job_name, wait)

    def logs_for_transform_job(self, job_name: str, wait: bool = False, poll: int = 10) -> None:
        self._logs("transform", job_name, wait)

    def _logs(self, kind: str, name: str, wait: bool) -> None:
        job = self._job(kind, name)
        job.describe()  # a job of another kind, or none: NotFoundError before any log is printed
        job.logs(follow=wait)
        if wait:
            job._wait_ended()

    def list_training_jobs(self, **kwargs: Any) -> dict[str, Any]:
        """boto's ListTrainingJobs: ``{"TrainingJobSummaries": [...], "NextToken"?}``, with its
        filters (``NameContains``, ``StatusEquals``, ``CreationTimeAfter``/``Before``, ``SortBy``,
        ``SortOrder``, ``MaxResults``, ``NextToken``)."""
        return self._list_jobs("training", "Training", kwargs)

    def list_processing_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return self._list_jobs("processing", "Processing", kwargs)

    def list_transform_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return self._list_jobs("transform", "Transform", kwargs, order="Descending")

    def list_hyper_parameter_tuning_jobs(self, **kwargs: Any) -> dict[str, Any]:
        """boto's ListHyperParameterTuningJobs: ``{"HyperParameterTuningJobSummaries": [...]}``."""
        from mlyard.jobs import _parse_times

        rows = _parse_times(self.client.list_tuning_jobs(limit=10000))
        return _page(rows, "HyperParameterTuningJobSummaries", "HyperParameterTuningJob", kwargs, "Ascending")

    list_tuning_jobs = list_hyper_parameter_tuning_jobs

    def _list_jobs(self, kind: str, prefix: str, kwargs: dict[str, Any], order: str = "Ascending") -> dict[str, Any]:
        from mlyard.jobs import _parse_times

        rows = []
        for j in self.client.list_jobs(kind=kind, limit=10000):
            row = {f"{prefix}JobName": j["JobName"], f"{prefix}JobArn": j["JobArn"],
                   "CreationTime": j["CreationTime"], "LastModifiedTime": j["LastModifiedTime"],
                   f"{prefix}JobStatus": j["Status"]}
            if j.get("EndTime"):
                row[f"{prefix}EndTime"] = j["EndTime"]
            if kind == "training":
                row["SecondaryStatus"] = j["SecondaryStatus"]
            elif j.get("FailureReason"):
                row["FailureReason"] = j["FailureReason"]
            rows.append(row)
        return _page(_parse_times(rows), f"{prefix}JobSummaries", f"{prefix}Job", kwargs, order)

    # -- models, endpoint configurations, endpoints ----------------------------------------------
    def create_model(self, name: str, role: str | None = None, container_defs: Any = None,
                     vpc_config: dict[str, Any] | None = None, enable_network_isolation: bool | None = None,
                     primary_container: dict[str, Any] | None = None, tags: list[dict[str, str]] | None = None
                     ) -> str:
        """Record a model (SageMaker's ContainerDefinition: ``Image``, ``ModelDataUrl``,
        ``Environment``) under ``name``; return the name."""
        if container_defs is not None and primary_container is not None:
            raise ValidationError("create_model: give container_defs or primary_container, not both")
        container = primary_container if primary_container is not None else container_defs
        if isinstance(container, list):
            if len(container) != 1:
                raise ValidationError(f"create_model: {len(container)} containers given; mlyard serves one "
                                      "container per model (an inference pipeline of several is not supported)")
            container = container[0]
        if not isinstance(container, dict):
            raise ValidationError("create_model needs container_defs (or primary_container): a dict with "
                                  "'ModelDataUrl' and optionally 'Image' and 'Environment'")
        cloud_only("create_model", {"vpc_config": vpc_config, "enable_network_isolation": enable_network_isolation})
        from mlyard.jobs import _file_uri, submit

        image = container.get("Image")
        spec = image_uris.parse(image)
        url = container.get("ModelDataUrl")
        request = {"ModelName": name, "ExecutionRoleArn": role, "Tags": tags or [],
                   "PrimaryContainer": {"Image": image, "ModelDataUrl": _file_uri(url) if url else url,
                                        "Environment": {str(k): str(v) for k, v in
                                                        (container.get("Environment") or {}).items()}},
                   "MlyardConfig": {"Framework": spec.framework if spec else None,
                                    "FrameworkVersion": spec.version if spec else None}}
        return str(submit(self, "model", request)["ModelName"])

    def create_endpoint_config(self, name: str, model_name: str, initial_instance_count: int, instance_type: str,
                               accelerator_type: str | None = None, tags: list[dict[str, str]] | None = None,
                               kms_key: str | None = None, data_capture_config_dict: dict[str, Any] | None = None,
                               **kwargs: Any) -> str:
        """An endpoint configuration of one variant (``AllTraffic``) serving ``model_name``."""
        instance_type = serving_instance_type("create_endpoint_config", instance_type, accelerator_type, kwargs)
        cloud_only("create_endpoint_config", {"kms_key": kms_key, **kwargs})
        from mlyard.validation import check_count

        config: dict[str, Any] = {
            "EndpointConfigName": name, "Tags": tags or [],
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model_name,
                                    "InitialInstanceCount": check_count("initial_instance_count",
                                                                        initial_instance_count),
                                    "InstanceType": instance_type, "InitialVariantWeight": 1.0}]}
        if data_capture_config_dict:
            config["DataCaptureConfig"] = data_capture_config_dict
        return self._submit_endpoint_config(config)

    def _submit_endpoint_config(self, config: dict[str, Any]) -> str:
        from mlyard.jobs import submit

        return str(submit(self, "endpoint-config", config)["EndpointConfigName"])

    def endpoint_from_production_variants(self, name: str, production_variants: list[dict[str, Any]],
                                          tags: list[dict[str, str]] | None = None, kms_key: str | None = None,
                                          wait: bool = True, data_capture_config_dict: dict[str, Any] | None = None,
                                          **kwargs: Any) -> str:
        """An endpoint (and its configuration, both named ``name``) of the variants that
        ``production_variant`` builds; returns the endpoint's name."""
        cloud_only("endpoint_from_production_variants", {"kms_key": kms_key, **kwargs})
        if not isinstance(production_variants, list) or not production_variants:
            raise ValidationError("endpoint_from_production_variants: production_variants must be a non-empty "
                                  "list of variants (see mlyard.session.production_variant)")
        config: dict[str, Any] = {"EndpointConfigName": name, "Tags": tags or [],
                                  "ProductionVariants": production_variants}
        if data_capture_config_dict:
            config["DataCaptureConfig"] = data_capture_config_dict
        return self.create_endpoint(name, self._submit_endpoint_config(config), tags=tags, wait=wait)

    def create_endpoint(self, endpoint_name: str, config_name: str, tags: list[dict[str, str]] | None = None,
                        wait: bool = True, live_logging: bool = False) -> str:
        from mlyard.jobs import submit

        created = submit(self, "endpoint", {"EndpointName": endpoint_name, "EndpointConfigName": config_name,
                                            "Tags": tags or []})
        endpoint_name = str(created["EndpointName"])
        if wait:
            self.wait_for_endpoint(endpoint_name)
        return endpoint_name

    def endpoint_from_job(self, job_name: str, initial_instance_count: int, instance_type: str,
                          image_uri: str | None = None, name: str | None = None, role: str | None = None,
                          wait: bool = True, model_environment_vars: dict[str, str] | None = None,
                          vpc_config_override: Any = None, accelerator_type: str | None = None,
                          data_capture_config: Any = None) -> str:
        """Deploy the model a completed training job produced: a model, an endpoint configuration
        and an endpoint, all named ``name`` (default: the job's name); return the endpoint's name."""
        desc = self.describe_training_job(job_name)
        artifacts = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if not artifacts:
            raise ValidationError(f"training job {job_name!r} has no model artifacts (it is "
                                  f"{desc['TrainingJobStatus']}); deploy a job that completed")
        cloud_only("endpoint_from_job", {"vpc_config_override": vpc_config_override})
        from mlyard.jobs import _file_uri, submit

        name = name or job_name
        cfg = desc.get("MlyardConfig") or {}
        image = image_uri or (desc.get("AlgorithmSpecification") or {}).get("TrainingImage")
        model = submit(self, "model", {
            "ModelName": name, "ExecutionRoleArn": role or desc.get("RoleArn"),
            "PrimaryContainer": {"Image": image, "ModelDataUrl": _file_uri(artifacts),
                                 "Environment": {str(k): str(v) for k, v in (model_environment_vars or {}).items()}},
            "MlyardConfig": {"Framework": cfg.get("Framework"), "FrameworkVersion": cfg.get("FrameworkVersion")}})
        capture = None
        if data_capture_config is not None:
            capture = data_capture_config._to_request_dict(self._capture_destination())
        config = self.create_endpoint_config(name, str(model["ModelName"]), initial_instance_count, instance_type,
                                             accelerator_type, data_capture_config_dict=capture)
        return self.create_endpoint(name, config, wait=wait)

    def endpoint_from_model_data(self, model_s3_location: str, image_uri: str, initial_instance_count: int,
                                 instance_type: str, name: str | None = None, role: str | None = None,
                                 wait: bool = True, model_environment_vars: dict[str, str] | None = None,
                                 model_vpc_config: Any = None, accelerator_type: str | None = None,
                                 data_capture_config: Any = None, tags: list[dict[str, str]] | None = None) -> str:
        """Deploy ``model_s3_location`` (a model.tar.gz) served as ``image_uri`` says (an
        ``image_uris.retrieve`` identifier selects the framework): a model, an endpoint
        configuration and an endpoint, all named ``name``; return the endpoint's name."""
        from mlyard.naming import base_name_from_image, name_from_base

        name = name or name_from_base(base_name_from_image(image_uri, "model"))
        model = self.create_model(name, role, container_def(image_uri, model_s3_location, model_environment_vars),
                                  vpc_config=model_vpc_config, tags=tags)
        capture = None
        if data_capture_config is not None:
            capture = data_capture_config._to_request_dict(self._capture_destination())
        config = self.create_endpoint_config(name, model, initial_instance_count, instance_type, accelerator_type,
                                             tags=tags, data_capture_config_dict=capture)
        return self.create_endpoint(name, config, tags=tags, wait=wait)

    def create_endpoint_config_from_existing(self, existing_config_name: str, new_config_name: str,
                                             new_tags: list[dict[str, str]] | None = None,
                                             new_kms_key: str | None = None,
                                             new_data_capture_config_dict: dict[str, Any] | None = None,
                                             new_production_variants: list[dict[str, Any]] | None = None) -> str:
        """A copy of the endpoint configuration ``existing_config_name`` under ``new_config_name``,
        with whatever ``new_*`` replaces; return the new name."""
        cloud_only("create_endpoint_config_from_existing", {"new_kms_key": new_kms_key})
        existing = self.client.describe_endpoint_config(existing_config_name)
        config: dict[str, Any] = {
            "EndpointConfigName": new_config_name,
            "ProductionVariants": new_production_variants or existing["ProductionVariants"],
            "Tags": new_tags if new_tags is not None else existing.get("Tags") or []}
        capture = new_data_capture_config_dict or existing.get("DataCaptureConfig")
        if capture:
            config["DataCaptureConfig"] = capture
        return self._submit_endpoint_config(config)

    def update_endpoint(self, endpoint_name: str, endpoint_config_name: str, wait: bool = True) -> str:
        """Roll ``endpoint_name`` to the configuration ``endpoint_config_name`` (new instances
        first, then traffic, then the old ones drained); with ``wait``, until it is InService."""
        self.client.update_endpoint(endpoint_name, endpoint_config_name)
        if wait:
            self.wait_for_endpoint(endpoint_name)
        return endpoint_name

    def expand_role(self, role: str) -> str:
        """``role`` as an IAM role ARN (a bare name is put in this installation's account): local
        jobs run as the server's user whatever the role says; it is recorded, as SageMaker does."""
        if "/" in role or role.startswith("arn:"):
            return role
        return f"arn:aws:iam::{self.account_id()}:role/{role}"

    def get_caller_identity_arn(self) -> str:
        """The role notebooks run as (the same placeholder ``get_execution_role`` returns)."""
        return _ROLE

    def describe_model(self, name: str) -> dict[str, Any]:
        from mlyard.jobs import _parse_times

        return _parse_times(self.client.describe_model(name))

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        from mlyard.jobs import _parse_times

        return _parse_times(self.client.describe_endpoint_config(name))

    def describe_endpoint(self, endpoint_name: str) -> dict[str, Any]:
        from mlyard.jobs import _parse_times

        return _parse_times(self.client.describe_endpoint(endpoint_name))

    def wait_for_endpoint(self, endpoint: str, poll: int = 30, live_logging: bool = False) -> dict[str, Any]:
        """Block until the endpoint is no longer Creating or Updating; its description.
        ``UnexpectedStatusException`` unless it is then InService."""
        from mlyard.jobs import _parse_times

        while True:
            desc = self.client.wait_endpoint(endpoint, timeout=20)
            if desc["EndpointStatus"] not in ("Creating", "Updating"):
                break
        status = desc["EndpointStatus"]
        if status != "InService":
            raise UnexpectedStatusException(
                f"Error hosting endpoint {endpoint}: {status}. Reason: {desc.get('FailureReason')}",
                allowed_statuses=["InService"], actual_status=status)
        return _parse_times(desc)

    def delete_endpoint(self, endpoint_name: str) -> None:
        self.client.delete_endpoint(endpoint_name)

    def delete_endpoint_config(self, endpoint_config_name: str) -> None:
        self.client.delete_endpoint_config(endpoint_config_name)

    def delete_model(self, model_name: str) -> None:
        self.client.delete_model(model_name)

    def list_endpoints(self, **kwargs: Any) -> dict[str, Any]:
        """boto's ListEndpoints: ``{"Endpoints": [...]}`` (filters as for ``list_training_jobs``)."""
        from mlyard.jobs import _parse_times

        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
        rows = [{k: e.get(k) for k in keys} for e in self.client.list_endpoints()]
        return _page(_parse_times(rows), "Endpoints", "Endpoint", kwargs, "Descending")

    def list_endpoint_configs(self, **kwargs: Any) -> dict[str, Any]:
        from mlyard.jobs import _parse_times

        return _page(_parse_times(self.client.list_endpoint_configs()), "EndpointConfigs", "EndpointConfig",
                     kwargs, "Descending")

    def create_model_package_group(self, name: str, description: str | None = None) -> str:
        """A group of model versions in the registry; its ARN."""
        created: dict[str, Any] = self.client.create_model_package_group(
            {"ModelPackageGroupName": name, "ModelPackageGroupDescription": description})
        return str(created["ModelPackageGroupArn"])

    def describe_model_package(self, model_package_name: str) -> dict[str, Any]:
        """A model package (``group/version`` or its ARN)."""
        result: dict[str, Any] = self.client.describe_model_package(model_package_name)
        return result

    def wait_for_model_package(self, model_package_name: str, poll: int = 5) -> dict[str, Any]:
        """A package is complete once created here: its description."""
        return self.describe_model_package(model_package_name)

    def list_model_packages(self, model_package_group_name: str | None = None,
                            approval_status: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.client.list_model_packages(
            model_package_group_name, approval_status)["ModelPackageSummaryList"]
        return result

    def update_model_package_approval(self, model_package_arn: str, approval_status: str,
                                      approval_description: str | None = None) -> dict[str, Any]:
        """Approve or reject a version; approving runs its group's approval rules."""
        from mlyard.model import _user

        result: dict[str, Any] = self.client.update_model_package({
            "ModelPackageArn": model_package_arn, "ModelApprovalStatus": approval_status,
            "ApprovalDescription": approval_description, "MlyardUser": _user()})
        return result

    def create_model_package_from_containers(self, containers: list[dict[str, Any]] | None = None,
                                             content_types: list[str] | None = None,
                                             response_types: list[str] | None = None,
                                             inference_instances: list[str] | None = None,
                                             transform_instances: list[str] | None = None,
                                             model_package_name: str | None = None,
                                             model_package_group_name: str | None = None,
                                             model_metrics: dict[str, Any] | None = None,
                                             approval_status: str = "PendingManualApproval",
                                             description: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """CreateModelPackage from container definitions (``container_def``); its response."""
        from mlyard.jobs import submit
        from mlyard.model import _user

        request = {k: v for k, v in {
            "ModelPackageGroupName": model_package_group_name, "ModelPackageName": model_package_name,
            "InferenceSpecification": {"Containers": containers or [], "SupportedContentTypes": content_types or [],
                                       "SupportedResponseMIMETypes": response_types or [],
                                       "SupportedRealtimeInferenceInstanceTypes": inference_instances or [],
                                       "SupportedTransformInstanceTypes": transform_instances or []},
            "ModelMetrics": model_metrics, "ModelApprovalStatus": approval_status,
            "ModelPackageDescription": description, "MlyardUser": _user()}.items() if v is not None}
        return submit(self, "model-package", request)

    def list_models(self, **kwargs: Any) -> dict[str, Any]:
        from mlyard.jobs import _parse_times

        return _page(_parse_times(self.client.list_models()), "Models", "Model", kwargs, "Descending")

    @property
    def sagemaker_client(self) -> SageMakerClient:
        """The control plane with boto's SageMaker client's method names and keyword arguments
        (``sess.sagemaker_client.describe_training_job(TrainingJobName=...)``)."""
        if self._adapter is None:
            self._adapter = SageMakerClient(self)
        return self._adapter


_LIST_FILTERS = {"NameContains", "StatusEquals", "CreationTimeAfter", "CreationTimeBefore",
                 "LastModifiedTimeAfter", "LastModifiedTimeBefore", "SortBy", "SortOrder", "MaxResults",
                 "NextToken"}


def _page(rows: list[dict[str, Any]], key: str, prefix: str, kwargs: dict[str, Any], order: str) -> dict[str, Any]:
    """One page of a boto-shaped list: ``rows`` (each named ``<prefix>Name``) filtered, sorted and
    cut as boto's List* arguments say; ``NextToken`` (an offset) names the next page."""
    unknown = set(kwargs) - _LIST_FILTERS
    if unknown:
        raise ValidationError(f"list: unsupported arguments {sorted(unknown)}; mlyard takes "
                              f"{', '.join(sorted(_LIST_FILTERS))}")
    name_key, status_key = f"{prefix}Name", f"{prefix}Status"
    if kwargs.get("NameContains"):
        needle = str(kwargs["NameContains"]).lower()
        rows = [r for r in rows if needle in str(r.get(name_key, "")).lower()]
    if kwargs.get("StatusEquals"):
        rows = [r for r in rows if r.get(status_key) == kwargs["StatusEquals"]]
    for arg, field, after in (("CreationTimeAfter", "CreationTime", True),
                              ("CreationTimeBefore", "CreationTime", False),
                              ("LastModifiedTimeAfter", "LastModifiedTime", True),
                              ("LastModifiedTimeBefore", "LastModifiedTime", False)):
        if kwargs.get(arg) is not None:
            bound = _datetime(arg, kwargs[arg])
            rows = [r for r in rows if r.get(field) is not None and (r[field] > bound if after else r[field] < bound)]
    sort_by = kwargs.get("SortBy") or "CreationTime"
    fields = {"Name": name_key, "CreationTime": "CreationTime", "Status": status_key}
    if sort_by not in fields:
        raise ValidationError(f"list: SortBy {sort_by!r} must be one of {sorted(fields)}")
    sort_order = kwargs.get("SortOrder") or order
    if sort_order not in ("Ascending", "Descending"):
        raise ValidationError(f"list: SortOrder {sort_order!r} must be 'Ascending' or 'Descending'")
    rows = sorted(rows, key=lambda r: (r.get(fields[sort_by]) is None, r.get(fields[sort_by]) or ""),
                  reverse=sort_order == "Descending")
    limit = kwargs.get("MaxResults", 100)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
        raise ValidationError(f"list: MaxResults {limit!r} must be an integer from 1 to 100")
    token = kwargs.get("NextToken") or "0"
    if not str(token).isdigit():
        raise ValidationError(f"list: NextToken {token!r} is not one this session returned")
    start = int(token)
    out: dict[str, Any] = {key: rows[start:start + limit]}
    if start + limit < len(rows):
        out["NextToken"] = str(start + limit)
    return out


def _download_target(folder: str | Path, prefix: str, obj: str) -> Path:
    """Where ``download_data`` writes the object ``obj`` listed under the URI ``prefix``: the
    object's name when ``obj`` is ``prefix`` itself, else its key below ``prefix``, inside
    ``folder``. A key whose part below the prefix is absolute or has a ``..`` part (a real S3 key
    may be ``a/../../x``) would be written outside ``folder``: refused."""
    base = prefix.rstrip("/")
    rel = obj.rsplit("/", 1)[-1] if obj == base else obj[len(base) + 1:] if obj.startswith(base + "/") else ""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or ".." in parts:
        raise ValidationError(f"download_data: the object {obj!r} listed under {prefix!r} has no relative key "
                              f"below it that stays inside {str(folder)!r} ({rel!r} is empty, absolute or has a "
                              "'..' part): it is not written; download it by its URI to a file of your choosing")
    return Path(folder, *parts)


def _datetime(arg: str, value: Any) -> datetime:
    """A list filter's time bound: a datetime (naive means UTC), an ISO string or epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"list: {arg} {value!r} is not an ISO date and time") from None
    if not isinstance(value, datetime):
        raise ValidationError(f"list: {arg} must be a datetime, an ISO string or epoch seconds, not {value!r}")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class SageMakerClient:
    """boto3's SageMaker client's calls that a notebook makes on ``sess.sagemaker_client``, with
    boto's keyword arguments, answered by the mlyard control plane."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def describe_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803 (boto's names)
        return self._session.describe_training_job(TrainingJobName)

    def describe_processing_job(self, *, ProcessingJobName: str) -> dict[str, Any]:  # noqa: N803
        return self._session.describe_processing_job(ProcessingJobName)

    def describe_transform_job(self, *, TransformJobName: str) -> dict[str, Any]:  # noqa: N803
        return self._session.describe_transform_job(TransformJobName)

    def describe_hyper_parameter_tuning_job(self, *, HyperParameterTuningJobName: str  # noqa: N803
                                            ) -> dict[str, Any]:
        return self._session.describe_tuning_job(HyperParameterTuningJobName)

    def describe_endpoint(self, *, EndpointName: str) -> dict[str, Any]:  # noqa: N803
        return self._session.describe_endpoint(EndpointName)

    def describe_endpoint_config(self, *, EndpointConfigName: str) -> dict[str, Any]:  # noqa: N803
        return self._session.describe_endpoint_config(EndpointConfigName)

    def describe_model(self, *, ModelName: str) -> dict[str, Any]:  # noqa: N803
        return self._session.describe_model(ModelName)

    def list_training_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return self._session.list_training_jobs(**kwargs)

    def list_processing_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return self._session.list_processing_jobs(**kwargs)

    def list_transform_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return self._session.list_transform_jobs(**kwargs)

    def list_hyper_parameter_tuning_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return self._session.list_hyper_parameter_tuning_jobs(**kwargs)

    def list_endpoints(self, **kwargs: Any) -> dict[str, Any]:
        return self._session.list_endpoints(**kwargs)

    def list_endpoint_configs(self, **kwargs: Any) -> dict[str, Any]:
        return self._session.list_endpoint_configs(**kwargs)

    def list_models(self, **kwargs: Any) -> dict[str, Any]:
        return self._session.list_models(**kwargs)

    def stop_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803
        self._session.stop_training_job(TrainingJobName)
        return {}

    # -- the model registry (boto's request and response shapes) -----------------------------------
    def create_model_package_group(self, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._session.client.create_model_package_group(kwargs)
        return result

    def describe_model_package_group(self, *, ModelPackageGroupName: str) -> dict[str, Any]:  # noqa: N803
        result: dict[str, Any] = self._session.client.describe_model_package_group(ModelPackageGroupName)
        return result

    def list_model_package_groups(self, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._session.client.list_model_package_groups()
        return result

    def delete_model_package_group(self, *, ModelPackageGroupName: str) -> dict[str, Any]:  # noqa: N803
        self._session.client.delete_model_package_group(ModelPackageGroupName)
        return {}

    def create_model_package(self, **kwargs: Any) -> dict[str, Any]:
        from mlyard.jobs import submit
        from mlyard.model import _user

        return submit(self._session, "model-package", {"MlyardUser": _user(), **kwargs})

    def describe_model_package(self, *, ModelPackageName: str) -> dict[str, Any]:  # noqa: N803
        result: dict[str, Any] = self._session.client.describe_model_package(ModelPackageName)
        return result

    def list_model_packages(self, *, ModelPackageGroupName: str | None = None,  # noqa: N803
                            ModelApprovalStatus: str | None = None, SortOrder: str = "Descending",  # noqa: N803
                            **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._session.client.list_model_packages(ModelPackageGroupName,
                                                                          ModelApprovalStatus, SortOrder)
        return result

    def update_model_package(self, **kwargs: Any) -> dict[str, Any]:
        from mlyard.model import _user

        result: dict[str, Any] = self._session.client.update_model_package({"MlyardUser": _user(), **kwargs})
        return result

    def delete_model_package(self, *, ModelPackageName: str) -> dict[str, Any]:  # noqa: N803
        self._session.client.delete_model_package(ModelPackageName)
        return {}

    def stop_processing_job(self, *, ProcessingJobName: str) -> dict[str, Any]:  # noqa: N803
        self._session.stop_processing_job(ProcessingJobName)
        return {}

    def stop_transform_job(self, *, TransformJobName: str) -> dict[str, Any]:  # noqa: N803
        self._session.stop_transform_job(TransformJobName)
        return {}

    def stop_hyper_parameter_tuning_job(self, *, HyperParameterTuningJobName: str  # noqa: N803
                                        ) -> dict[str, Any]:
        self._session.stop_tuning_job(HyperParameterTuningJobName)
        return {}

    def delete_endpoint(self, *, EndpointName: str) -> dict[str, Any]:  # noqa: N803
        self._session.delete_endpoint(EndpointName)
        return {}

    def delete_endpoint_config(self, *, EndpointConfigName: str) -> dict[str, Any]:  # noqa: N803
        self._session.delete_endpoint_config(EndpointConfigName)
        return {}

    def delete_model(self, *, ModelName: str) -> dict[str, Any]:  # noqa: N803
        self._session.delete_model(ModelName)
        return {}


def __getattr__(name: str) -> Any:
    """``mlyard.session.LocalSession`` is ``mlyard.local.LocalSession`` (SageMaker's
    ``sagemaker.local.LocalSession``), a subclass of ``Session``: imported on first access, as
    ``mlyard.local`` imports this module."""
    if name == "LocalSession":
        from mlyard.local.local_session import LocalSession

        return LocalSession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def container_def(image_uri: str | None, model_data_url: str | None = None, env: dict[str, str] | None = None,
                  container_mode: str | None = None, image_config: Any = None, accept_eula: bool | None = None,
                  **kwargs: Any) -> dict[str, Any]:
    """SageMaker's ContainerDefinition, as ``Session.create_model`` takes it. Its cloud-only
    arguments (``image_config``, ``accept_eula``, ``additional_model_data_sources``...) are accepted
    with one warning naming them."""
    cloud_only("container_def", {"image_config": image_config, "accept_eula": accept_eula, **kwargs})
    container: dict[str, Any] = {"Image": image_uri, "Environment": dict(env or {})}
    if model_data_url:
        container["ModelDataUrl"] = model_data_url
    if container_mode:
        container["Mode"] = container_mode
    return container


def production_variant(model_name: str, instance_type: str | None = None, initial_instance_count: int | None = None,
                       variant_name: str = "AllTraffic", initial_weight: float = 1, accelerator_type: str | None = None,
                       **kwargs: Any) -> dict[str, Any]:
    """SageMaker's ProductionVariant, as ``Session.endpoint_from_production_variants`` takes it.
    Its cloud-only arguments (``volume_size``, ``serverless_inference_config``...) are accepted
    with one warning naming them; a serverless variant runs on a ``local`` instance."""
    cloud_only("production_variant", kwargs)
    instance_type = serving_instance_type(f"production_variant({model_name!r})", instance_type, accelerator_type,
                                          kwargs)
    return {"ModelName": model_name, "VariantName": variant_name, "InstanceType": instance_type,
            "InitialInstanceCount": initial_instance_count or 1, "InitialVariantWeight": initial_weight}


def get_execution_role(sagemaker_session: Session | None = None) -> str:
    """A placeholder role ARN: local jobs run as the current user."""
    return _ROLE
