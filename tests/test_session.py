"""``Session``: SageMaker's constructor, and the describe / wait / logs / list / stop / delete calls
a notebook makes, against real jobs and a real endpoint of one control plane (started once for the
module: a training job that learns iris, one that fails, a processing job, a one-trial tuning job,
a transform job and an endpoint, each shared by the tests that read it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import end_home, procs_under, write_script

import mlyard.client as client_mod
from mlyard.client import Client
from mlyard.deserializers import JSONDeserializer
from mlyard.errors import MlyardWarning, NotFoundError, UnexpectedStatusException, ValidationError
from mlyard.estimator import Estimator, TrainingJob
from mlyard.predictor import Predictor
from mlyard.processing import ProcessingJob, Processor
from mlyard.serializers import CSVSerializer
from mlyard.session import SageMakerClient, Session
from mlyard.transformer import Transformer, TransformJob
from mlyard.tuner import HyperparameterTuner, IntegerParameter

TRAIN = """
import json, os, time
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
hp = json.loads(os.environ["SM_HPS"])
time.sleep(float(hp.get("pause", 0)))
x, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=500).fit(x, y)
print(f"iris says hello; loss: {1 - model.score(x, y) + float(hp.get('shift', 0)):.4f}", flush=True)
joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""


@dataclass
class World:
    home: Path
    root: Path
    session: Session
    trained: Estimator       # completes, with a model.joblib
    failed: str              # a training job that fails
    processor: Processor     # one processing job
    tuner: HyperparameterTuner
    x: np.ndarray
    expected: list[int]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The module's MLYARD_HOME, with its jobs started (not waited for: the tests wait)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("session")
    home = root / "home"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("MLYARD_URL", "MLYARD_TOKEN", "MLYARD_DATABASE_URL", "MLYARD_STORE"):
            mp.delenv(var, raising=False)
        for var, value in (("MLYARD_HOME", str(home)), ("MLYARD_STOP_GRACE_SECONDS", "3"), ("MLYARD_CPUS", "2"),
                           ("MLYARD_MEMORY_MIB", "8192"), ("MLYARD_GPUS", "0")):
            mp.setenv(var, value)
        client_mod._clients.clear()
        try:
            sess = Session()
            src = root / "src"
            write_script(src, "train.py", TRAIN)
            write_script(src, "fail.py", "print('about to fail', flush=True)\nraise SystemExit('failing on purpose')\n")

            def est(entry: str, **kw: Any) -> Estimator:
                return Estimator(entry_point=entry, source_dir=str(src), role="r", instance_type="local",
                                 sagemaker_session=sess, **kw)

            trained = est("train.py", base_job_name="iris")
            trained.fit(wait=False)
            bad = est("fail.py", base_job_name="broken")
            bad.fit(wait=False)
            proc = Processor(role="r", instance_type="local", instance_count=1, sagemaker_session=sess,
                             entrypoint=["python3", "-c", "print('processing says hello')"], base_job_name="prep")
            proc.run(wait=False)
            tuner = HyperparameterTuner(
                est("train.py", metric_definitions=[{"Name": "loss", "Regex": r"loss: ([0-9.]+)"}]), "loss",
                {"shift": IntegerParameter(0, 3)}, objective_type="Minimize", max_jobs=1, max_parallel_jobs=1,
                base_tuning_job_name="tiny")
            tuner.fit(wait=False)
            x, y = load_iris(return_X_y=True)
            xs = x[::30]
            expected = LogisticRegression(max_iter=500).fit(x, y).predict(xs).tolist()
            yield World(home, root, sess, trained, bad.latest_training_job.job_name, proc,  # type: ignore[union-attr]
                        tuner, xs, expected)
        finally:
            end_home(home)


def _job(world: World) -> str:
    return world.trained.latest_training_job.job_name  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def endpoint(world: World) -> str:
    """An endpoint deployed from the training job with ``endpoint_from_job``."""
    world.session.wait_for_job(_job(world))
    return world.session.endpoint_from_job(_job(world), initial_instance_count=1, instance_type="local",
                                           name="iris-from-job", model_environment_vars={"GREETING": "hi"})


# -- the constructor --------------------------------------------------------------------------------
def test_constructor_takes_sagemakers_arguments_and_keeps_aws_objects_apart(world: World) -> None:
    boto3 = pytest.importorskip("boto3")
    boto = boto3.Session(region_name="us-east-1")
    sm = boto.client("sagemaker")
    for sess in (Session(boto), Session(boto_session=boto), Session(None, sm), Session(sagemaker_client=sm),
                 Session(boto, sm, None, None, "my-bucket", None, None, None, "proj/")):
        assert isinstance(sess.client, Client)  # mlyard's own control plane, not the AWS objects
        assert sess.describe_training_job(_job(world))["TrainingJobName"] == _job(world)
        assert isinstance(sess.sagemaker_client, SageMakerClient)
    last = Session(boto, sm, None, None, "my-bucket", None, None, None, "proj/")
    assert last.boto_session is boto and last._default_bucket == "my-bucket"
    assert last.default_bucket_prefix == "proj"
    assert Session().default_bucket_prefix is None and Session().sandbox is False
    own = world.session.client
    assert Session(client=own, sandbox=True).client is own and Session(client=own, sandbox=True).sandbox


def test_constructor_bad_input(world: World) -> None:
    own = world.session.client
    with pytest.raises(ValidationError, match="client="):
        Session(own)  # an mlyard Client given where SageMaker puts the boto session
    with pytest.raises(ValidationError, match="client="):
        Session(sagemaker_client=own)
    with pytest.raises(ValidationError, match=r"client=\.\.\.\) takes an mlyard.client.Client"):
        Session(client="http://localhost:8080")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="default_bucket_prefix 's3://b/p' must be a key prefix"):
        Session(default_bucket_prefix="s3://b/p")
    with pytest.raises(TypeError):
        Session(None, None, None, None, None, None, None, None, None, None, own)  # type: ignore[misc]


# -- training jobs ------------------------------------------------------------------------------------
def test_training_job_describe_wait_logs_and_objects(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    sess, name = world.session, _job(world)
    done = sess.wait_for_job(name, poll=1)
    assert done["TrainingJobStatus"] == "Completed"
    desc = sess.describe_training_job(name)
    assert desc["TrainingJobName"] == name and isinstance(desc["CreationTime"], datetime)
    assert isinstance(desc["TrainingEndTime"], datetime) and desc["TrainingEndTime"] >= desc["CreationTime"]
    assert desc["ModelArtifacts"]["S3ModelArtifacts"].endswith("model.tar.gz")
    # estimator.jobs: the jobs this estimator started, as objects.
    assert [j.job_name for j in world.trained.jobs] == [name]
    assert isinstance(world.trained.jobs[-1], TrainingJob)
    assert world.trained.jobs[-1].describe()["TrainingJobStatus"] == "Completed"
    attached = Estimator.attach(name, sagemaker_session=sess)
    assert [j.job_name for j in attached.jobs] == [name]
    capsys.readouterr()
    sess.logs_for_job(name)
    assert "iris says hello" in capsys.readouterr().out
    sess.logs_for_job(name, wait=True, poll=1)  # an ended job: its logs, then its status checked
    assert "iris says hello" in capsys.readouterr().out
    assert sess.sagemaker_client.describe_training_job(TrainingJobName=name)["TrainingJobName"] == name


def test_failed_training_job_raises_on_wait(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    sess = world.session
    with pytest.raises(UnexpectedStatusException, match=f"{world.failed}: Failed") as info:
        sess.wait_for_job(world.failed)
    assert info.value.actual_status == "Failed"
    with pytest.raises(UnexpectedStatusException, match="failing on purpose"):
        sess.logs_for_job(world.failed, wait=True)
    assert "about to fail" in capsys.readouterr().out
    with pytest.raises(ValidationError, match=f"training job '{world.failed}' has no model artifacts"):
        sess.endpoint_from_job(world.failed, 1, "local")


def test_describe_a_job_of_another_kind_or_none(world: World) -> None:
    sess, name = world.session, _job(world)
    for call in (sess.describe_processing_job, sess.describe_transform_job, sess.wait_for_processing_job,
                 sess.wait_for_transform_job, sess.stop_processing_job, sess.logs_for_processing_job):
        with pytest.raises(NotFoundError, match=f"no (processing|transform) job named '{name}' .*is a training job"):
            call(name)
    for call in (sess.describe_training_job, sess.describe_processing_job, sess.describe_tuning_job,
                 sess.wait_for_job, sess.stop_training_job, sess.logs_for_job):
        with pytest.raises(NotFoundError, match="'no-such-job'"):
            call("no-such-job")
    with pytest.raises(ValidationError, match="non-empty string"):
        sess.describe_training_job("")
    # The API says the same with 4xx JSON.
    client = sess.client
    r = httpx.get(f"{client.url}/v1/jobs/{name}", params={"kind": "processing"},
                  headers={"Authorization": f"Bearer {client.token}"})
    assert r.status_code == 404 and r.json()["error"] == "ResourceNotFound"
    r = httpx.get(f"{client.url}/v1/jobs/{name}", params={"kind": "bogus"},
                  headers={"Authorization": f"Bearer {client.token}"})
    assert r.status_code == 400 and "kind" in r.json()["message"]


def test_list_training_jobs_with_filters(world: World) -> None:
    sess, name = world.session, _job(world)
    sess.wait_for_job(name)
    listed = sess.list_training_jobs(MaxResults=100)
    names = [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]]
    assert name in names and world.failed in names and "NextToken" not in listed
    assert names == sorted(names, key=lambda n: next(s["CreationTime"] for s in listed["TrainingJobSummaries"]
                                                   if s["TrainingJobName"] == n))  # oldest first, as boto
    mine = sess.list_training_jobs(NameContains="IRIS-")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in mine] == [name]
    row = mine[0]
    assert row["TrainingJobStatus"] == "Completed" and row["TrainingJobArn"].endswith(f"training-job/{name}")
    assert isinstance(row["CreationTime"], datetime) and isinstance(row["TrainingEndTime"], datetime)
    failed = sess.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in failed] == [world.failed]
    first = sess.list_training_jobs(MaxResults=1, SortBy="Name", SortOrder="Descending")
    assert len(first["TrainingJobSummaries"]) == 1 and first["NextToken"]
    second = sess.list_training_jobs(MaxResults=1, SortBy="Name", SortOrder="Descending",
                                     NextToken=first["NextToken"])
    assert second["TrainingJobSummaries"][0]["TrainingJobName"] < first["TrainingJobSummaries"][0]["TrainingJobName"]
    future = datetime.now(timezone.utc) + timedelta(days=1)
    assert sess.list_training_jobs(CreationTimeAfter=future)["TrainingJobSummaries"] == []
    assert sess.sagemaker_client.list_training_jobs(NameContains="broken-")["TrainingJobSummaries"][0][
        "TrainingJobName"] == world.failed
    for bad, match in (({"MaxResults": 0}, "MaxResults 0"), ({"SortBy": "Size"}, "SortBy 'Size'"),
                       ({"Nmae": "x"}, r"unsupported arguments \['Nmae'\]"), ({"NextToken": "zz"}, "NextToken"),
                       ({"CreationTimeAfter": "yesterday"}, "CreationTimeAfter 'yesterday'")):
        with pytest.raises(ValidationError, match=match):
            sess.list_training_jobs(**bad)


def test_stop_training_job(world: World) -> None:
    sess = world.session
    slow = Estimator(entry_point="train.py", source_dir=str(world.root / "src"), role="r", instance_type="local",
                     sagemaker_session=sess, hyperparameters={"pause": 120}, base_job_name="slow")
    slow.fit(wait=False)
    name = slow.latest_training_job.job_name  # type: ignore[union-attr]
    with pytest.raises(NotFoundError, match="is a training job"):
        sess.stop_transform_job(name)
    sess.sagemaker_client.stop_training_job(TrainingJobName=name)
    assert sess.wait_for_job(name)["TrainingJobStatus"] == "Stopped"
    with pytest.raises(Exception, match="already ended"):
        sess.stop_training_job(name)


# -- processing and tuning jobs -------------------------------------------------------------------------
def test_processing_job_objects_and_session_calls(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    sess, proc = world.session, world.processor
    assert len(proc.jobs) == 1 and proc.latest_job is proc.jobs[-1] and isinstance(proc.jobs[-1], ProcessingJob)
    name = proc.jobs[-1].job_name
    assert sess.wait_for_processing_job(name, poll=1)["ProcessingJobStatus"] == "Completed"
    assert proc.jobs[-1].describe()["ProcessingJobName"] == name
    desc = sess.describe_processing_job(name)
    assert desc["ProcessingJobStatus"] == "Completed" and isinstance(desc["ProcessingEndTime"], datetime)
    capsys.readouterr()
    sess.logs_for_processing_job(name, wait=True)
    assert "processing says hello" in capsys.readouterr().out
    rows = sess.list_processing_jobs(NameContains="prep")["ProcessingJobSummaries"]
    assert [r["ProcessingJobName"] for r in rows] == [name] and rows[0]["ProcessingJobStatus"] == "Completed"
    assert sess.sagemaker_client.describe_processing_job(ProcessingJobName=name)["ProcessingJobName"] == name
    with pytest.raises(NotFoundError, match="is a processing job"):
        sess.describe_training_job(name)


def test_tuning_job_session_calls(world: World) -> None:
    sess = world.session
    name = world.tuner.latest_tuning_job.name  # type: ignore[union-attr]
    done = sess.wait_for_tuning_job(name, poll=1)
    assert done["HyperParameterTuningJobStatus"] == "Completed"
    desc = sess.describe_tuning_job(name)
    assert desc["HyperParameterTuningJobName"] == name and isinstance(desc["CreationTime"], datetime)
    assert desc["BestTrainingJob"]["TrainingJobName"].startswith(name)
    rows = sess.list_hyper_parameter_tuning_jobs(NameContains="tiny")["HyperParameterTuningJobSummaries"]
    assert [r["HyperParameterTuningJobName"] for r in rows] == [name]
    assert sess.list_tuning_jobs(StatusEquals="InProgress")["HyperParameterTuningJobSummaries"] == []
    assert sess.sagemaker_client.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"] == "Completed"
    with pytest.raises(Exception, match="already ended"):
        sess.stop_tuning_job(name)
    with pytest.raises(NotFoundError, match="tuning job"):
        sess.describe_tuning_job(_job(world))


# -- models, endpoints and transform jobs -----------------------------------------------------------
def test_endpoint_from_job_describe_and_list(world: World, endpoint: str) -> None:
    sess = world.session
    assert endpoint == "iris-from-job"
    desc = sess.describe_endpoint(endpoint)
    assert desc["EndpointStatus"] == "InService" and isinstance(desc["CreationTime"], datetime)
    assert sess.wait_for_endpoint(endpoint, poll=1)["EndpointStatus"] == "InService"
    pred = Predictor(endpoint, sagemaker_session=sess, serializer=CSVSerializer(), deserializer=JSONDeserializer())
    assert pred.predict(world.x) == world.expected
    pred.close()
    config = sess.describe_endpoint_config(desc["EndpointConfigName"])
    assert config["ProductionVariants"][0]["ModelName"] == endpoint
    assert config["ProductionVariants"][0]["InstanceType"] == "local"
    model = sess.describe_model(endpoint)
    trained = sess.describe_training_job(_job(world))
    assert model["PrimaryContainer"]["ModelDataUrl"] == trained["ModelArtifacts"]["S3ModelArtifacts"]
    assert model["PrimaryContainer"]["Environment"] == {"GREETING": "hi"}
    assert isinstance(model["CreationTime"], datetime)
    eps = sess.list_endpoints(NameContains="from-job")["Endpoints"]
    assert [e["EndpointName"] for e in eps] == [endpoint] and eps[0]["EndpointStatus"] == "InService"
    assert endpoint in [m["ModelName"] for m in sess.list_models()["Models"]]
    assert endpoint in [c["EndpointConfigName"] for c in sess.list_endpoint_configs(NameContains="iris")[
        "EndpointConfigs"]]
    assert sess.sagemaker_client.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"


def test_a_predictor_dropped_without_close_leaves_no_connection_open(world: World, endpoint: str) -> None:
    """Notebooks never close predictors (they delete endpoints through the session): the
    connection closes with the object instead of being found open by the garbage collector."""
    import gc

    pred = Predictor(endpoint, sagemaker_session=world.session, serializer=CSVSerializer(),
                     deserializer=JSONDeserializer())
    assert pred.predict(world.x) == world.expected
    http = pred._http
    assert http is not None and not http.is_closed
    del pred
    gc.collect()
    assert http.is_closed


def test_endpoint_from_model_data_update_endpoint_and_roles(world: World) -> None:
    import mlyard
    from mlyard import image_uris
    from mlyard.compat import installed_version

    sess, name = world.session, _job(world)
    artifacts = sess.describe_training_job(name)["ModelArtifacts"]["S3ModelArtifacts"]
    image = image_uris.retrieve("sklearn", version=installed_version("sklearn"), image_scope="inference")
    assert sess.endpoint_from_model_data(artifacts, image, 1, "local", name="iris-data") == "iris-data"
    assert sess.describe_model("iris-data")["PrimaryContainer"]["Image"] == image
    pred = Predictor("iris-data", sagemaker_session=sess, serializer=CSVSerializer(), deserializer=JSONDeserializer())
    assert pred.predict(world.x) == world.expected
    first = sess.describe_endpoint("iris-data")["EndpointConfigName"]
    assert sess.create_endpoint_config_from_existing(first, "iris-data-v2") == "iris-data-v2"
    assert sess.describe_endpoint_config("iris-data-v2")["ProductionVariants"][0]["ModelName"] == "iris-data"
    assert sess.update_endpoint("iris-data", "iris-data-v2") == "iris-data"
    desc = sess.describe_endpoint("iris-data")
    assert desc["EndpointStatus"] == "InService" and desc["EndpointConfigName"] == "iris-data-v2"
    assert pred.predict(world.x) == world.expected
    pred.close()
    sess.delete_endpoint("iris-data")
    assert sess.expand_role("MyRole") == f"arn:aws:iam::{sess.account_id()}:role/MyRole"
    assert sess.expand_role("arn:aws:iam::1:role/x") == "arn:aws:iam::1:role/x"
    assert sess.get_caller_identity_arn() == mlyard.get_execution_role()
    with pytest.warns(DeprecationWarning, match="TrainingInput"):
        assert mlyard.s3_input("s3://b/k").config["DataSource"]["S3DataSource"]["S3Uri"] == "s3://b/k"


def test_create_model_and_transform_job_object(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    sess, name = world.session, _job(world)
    sess.wait_for_job(name)
    artifacts = sess.describe_training_job(name)["ModelArtifacts"]["S3ModelArtifacts"]
    assert sess.create_model("iris-made", role="r", container_defs={"ModelDataUrl": artifacts}) == "iris-made"
    with pytest.warns(MlyardWarning, match="vpc_config"):
        sess.create_model("iris-vpc", container_defs=[{"ModelDataUrl": artifacts}],
                          vpc_config={"Subnets": ["s"], "SecurityGroupIds": ["g"]})
    data = world.root / "transform-in"
    data.mkdir()
    (data / "rows.csv").write_text("\n".join(",".join(str(v) for v in row) for row in world.x) + "\n")
    transformer = Transformer("iris-made", 1, "local", output_path=str(world.root / "transform-out"),
                              accept="text/csv", assemble_with="Line", sagemaker_session=sess)
    transformer.transform(str(data), content_type="text/csv", split_type="Line", wait=False)
    job = transformer.latest_transform_job
    assert isinstance(job, TransformJob) and job.job_name.startswith("iris-made-transform")
    assert job.wait(logs=False)["TransformJobStatus"] == "Completed"
    assert job.describe()["TransformJobName"] == job.job_name
    assert sess.wait_for_transform_job(job.job_name)["TransformJobStatus"] == "Completed"
    assert sess.describe_transform_job(job.job_name)["ModelName"] == "iris-made"
    out = (world.root / "transform-out" / "rows.csv.out").read_text().split()
    assert [int(float(v)) for v in out] == world.expected
    capsys.readouterr()
    sess.logs_for_transform_job(job.job_name)
    assert "listening" in capsys.readouterr().out
    rows = sess.list_transform_jobs(NameContains="iris-made")["TransformJobSummaries"]
    assert [r["TransformJobName"] for r in rows] == [job.job_name]
    with pytest.raises(Exception, match="already ended"):
        sess.stop_transform_job(job.job_name)
    for bad, match in (({"container_defs": {"ModelDataUrl": artifacts}, "primary_container": {}}, "not both"),
                       ({}, "needs container_defs"),
                       ({"container_defs": [{"ModelDataUrl": artifacts}] * 2}, "2 containers")):
        with pytest.raises(ValidationError, match=match):
            sess.create_model("iris-bad", **bad)
    # A local model is uploaded by the client: the server is sent (and records) a store URI, never
    # a path on the client's disk; a local path that is not there is refused before anything is sent.
    local = world.root / "made" / "model.tar.gz"
    sess.download_data(str(local.parent), *artifacts[len("s3://"):].split("/", 1))
    assert local.is_file()
    for url in (str(local), f"file://{local}"):
        sess.create_model("iris-local", container_defs={"ModelDataUrl": url})
        stored = sess.describe_model("iris-local")["PrimaryContainer"]["ModelDataUrl"]
        assert stored.startswith(f"s3://{sess.default_bucket()}/inputs/"), stored
        sess.delete_model("iris-local")
    with pytest.raises(ValidationError, match="the local path .* does not exist"):
        sess.create_model("iris-missing", container_defs={"ModelDataUrl": f"file://{world.root}/nope.tar.gz"})


def test_delete_endpoint_config_and_model(world: World, endpoint: str) -> None:
    sess = world.session
    config = sess.describe_endpoint(endpoint)["EndpointConfigName"]
    sess.delete_endpoint(endpoint)
    with pytest.raises(NotFoundError, match=f"'{endpoint}'"):
        sess.describe_endpoint(endpoint)
    assert endpoint not in [e["EndpointName"] for e in sess.list_endpoints()["Endpoints"]]
    assert not procs_under(world.home / "endpoints" / endpoint)
    sess.delete_endpoint_config(config)
    with pytest.raises(NotFoundError, match="endpoint configuration"):
        sess.describe_endpoint_config(config)
    sess.sagemaker_client.delete_model(ModelName=endpoint)
    with pytest.raises(NotFoundError, match="model"):
        sess.describe_model(endpoint)
    for call in (sess.delete_endpoint, sess.delete_endpoint_config, sess.delete_model, sess.wait_for_endpoint):
        with pytest.raises(NotFoundError, match="'gone'"):
            call("gone")


def test_endpoint_from_production_variants_with_the_top_level_helpers(world: World) -> None:
    """A notebook's low-level deploy: ``sagemaker.container_def`` + ``create_model``, then
    ``sagemaker.production_variant`` + ``endpoint_from_production_variants``."""
    import mlyard
    from mlyard.network import NetworkConfig

    sess, name = world.session, _job(world)
    artifacts = sess.describe_training_job(name)["ModelArtifacts"]["S3ModelArtifacts"]
    container = mlyard.container_def(None, model_data_url=artifacts, env={"A": "1"})
    assert container == {"Image": None, "Environment": {"A": "1"}, "ModelDataUrl": artifacts}
    sess.create_model("iris-variants", role="r", container_defs=container)
    variant = mlyard.production_variant("iris-variants", "local", initial_instance_count=1)
    assert variant["VariantName"] == "AllTraffic" and variant["InitialVariantWeight"] == 1
    assert sess.endpoint_from_production_variants("iris-variants", [variant]) == "iris-variants"
    pred = Predictor("iris-variants", sagemaker_session=sess, serializer=CSVSerializer(),
                     deserializer=JSONDeserializer())
    assert pred.predict(world.x) == world.expected
    pred.close()
    sess.delete_endpoint("iris-variants")
    with pytest.raises(ValidationError, match="instance_type is required"):
        mlyard.production_variant("iris-variants")
    with pytest.raises(ValidationError, match="non-empty list"):
        sess.endpoint_from_production_variants("nothing", [])
    assert not NetworkConfig() and NetworkConfig(subnets=["s"])
    assert NetworkConfig(subnets=["s"])._to_request_dict()["VpcConfig"] == {"SecurityGroupIds": None,
                                                                             "Subnets": ["s"]}
