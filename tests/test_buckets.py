"""Buckets: s3:// URIs served by mlyard's own store (the default bucket, created buckets,
MLYARD_LOCAL_BUCKETS) and by real S3 (an S3-compatible moto_server on loopback), the SDK's
``mlyard.s3`` helpers and Session methods over them, and the errors of bad URIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from conftest import free_port, write_script

import mlyard
from mlyard import config, store
from mlyard.errors import ValidationError
from mlyard.estimator import Estimator
from mlyard.processing import ProcessingOutput, ScriptProcessor
from mlyard.s3 import S3Downloader, S3Uploader, is_s3_url, parse_s3_url, s3_path_join
from mlyard.store.paths import SourcePolicy

TRAIN = """
    import os
    files = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
    rows = sum(len(open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], f)).read().splitlines()) for f in files)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.txt"), "w") as fh:
        fh.write(",".join(files) + ":" + str(rows))
"""


def _model_file(data: bytes, name: str = "seen.txt") -> str:
    import io

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read().decode()


# -- configuration and the store, in-process --------------------------------------------------------
def test_config_names_the_default_bucket_and_local_buckets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLYARD_HOME", str(tmp_path / "h"))
    for var in ("MLYARD_STORE", "MLYARD_REGION", "MLYARD_DEFAULT_BUCKET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLYARD_LOCAL_BUCKETS", "alpha, beta.data")
    account = config.account_id()
    assert len(account) == 12 and account.isdigit() and config.account_id() == account  # stable per home
    assert config.default_bucket() == f"mlyard-local-{account}"
    table = config.local_buckets()
    assert table == {f"mlyard-local-{account}": config.store_root(),
                     "alpha": f"file://{tmp_path}/h/buckets/alpha",
                     "beta.data": f"file://{tmp_path}/h/buckets/beta.data"}
    assert (tmp_path / "h" / "buckets" / "alpha").is_dir()
    (tmp_path / "h" / "buckets" / "made-later").mkdir()  # a bucket created with `mlyard buckets create`
    assert "made-later" in config.local_buckets()
    monkeypatch.setenv("MLYARD_REGION", "eu-west-1")
    monkeypatch.setenv("MLYARD_DEFAULT_BUCKET", "my-notebook-bucket")
    assert config.default_bucket() == "my-notebook-bucket"
    monkeypatch.delenv("MLYARD_DEFAULT_BUCKET")
    assert config.default_bucket() == f"mlyard-eu-west-1-{account}"
    for bad in ("Upper_Case", "ab", "-dash", "a..b", "192.168.1.1", "x" * 64, "xn--abc"):
        monkeypatch.setenv("MLYARD_LOCAL_BUCKETS", bad)
        with pytest.raises(ValidationError, match="MLYARD_LOCAL_BUCKETS .* is not a valid S3 bucket name"):
            config.local_buckets()


def test_store_resolves_local_buckets_and_keeps_their_uris(tmp_path: Path) -> None:
    root = tmp_path / "bucket-root"
    store.set_buckets({"data": f"file://{root}"})
    try:
        assert store.upload_bytes(b"1,2\n", "s3://data/train/a.csv") == "s3://data/train/a.csv"
        store.upload_bytes(b"3,4\n", "s3://data/train/sub/b.csv")
        assert (root / "train" / "a.csv").read_bytes() == b"1,2\n"
        assert store.local_path("s3://data/train/a.csv") == root / "train" / "a.csv"
        assert store.local_path("s3://elsewhere/x") is None  # not local: real S3
        assert store.list_objects("s3://data/train") == [("s3://data/train/a.csv", "a.csv"),
                                                         ("s3://data/train/sub/b.csv", "sub/b.csv")]
        assert store.list_objects("s3://data/train/a.csv") == [("s3://data/train/a.csv", "a.csv")]
        assert store.read_bytes("s3://data/train/sub/b.csv") == b"3,4\n"
        with pytest.raises(ValidationError, match="leads out of the bucket"):
            store.local_path("s3://data/../../etc/passwd")
    finally:
        store.set_buckets({})


def test_resolving_a_local_bucket_imports_no_fsspec(tmp_path: Path) -> None:
    """Runners resolve local buckets on every job: that must stay as light as file:// URIs."""
    code = (f"from mlyard import store; store.set_buckets({{'b': 'file://{tmp_path}'}}); "
            "store.upload_bytes(b'x', 's3://b/k'); assert store.list_objects('s3://b') == [('s3://b/k', 'k')]; "
            "import sys; assert 'fsspec' not in sys.modules, 'fsspec imported'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_source_policy_allows_buckets_and_guards_the_store_sources(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "buckets" / "b").mkdir(parents=True)
    (home / "buckets" / "b" / "x.csv").write_text("1")
    (home / "catalog.db").write_text("")
    policy = SourcePolicy.from_json(SourcePolicy.from_environment(home, f"file://{home}/store").to_json())
    store.set_buckets({"b": f"file://{home}/buckets/b", "dflt": f"file://{home}/store"})
    try:
        assert policy.check("input", "s3://b/x.csv") == (home / "buckets" / "b" / "x.csv").resolve()
        assert policy.problem(str(home / "catalog.db"))  # the rest of the home stays denied
        policy.check_destination("output", "s3://b/out")
        with pytest.raises(ValidationError, match="sources/ folder holds jobs' code"):
            policy.check_destination("output", "s3://dflt/sources/abc")
    finally:
        store.set_buckets({})


def test_s3_url_helpers() -> None:
    assert s3_path_join("s3://", "bucket", "a/", "/b", "", None) == "s3://bucket/a/b"
    assert s3_path_join("s3://bucket/x", "y", with_end_slash=True) == "s3://bucket/x/y/"
    assert parse_s3_url("s3://bucket/a/b.csv") == ("bucket", "a/b.csv")
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    assert is_s3_url("s3://b/k") and not is_s3_url("/tmp/x")
    for bad in ("s3:/bucket/x", "/tmp/x", "s3:///key"):
        with pytest.raises(ValidationError):
            parse_s3_url(bad)


# -- local buckets through the server ----------------------------------------------------------------
def test_default_bucket_round_trip_through_a_training_job(session, tmp_path: Path) -> None:
    bucket = session.default_bucket()
    health = session.client.health()
    assert bucket == health["default_bucket"] == f"mlyard-local-{session.account_id()}"
    assert health["buckets"][bucket] == health["store"] and session.boto_region_name == "local"
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.csv").write_text("1\n2\n")
    (raw / "b.csv").write_text("3\n")
    train = session.upload_data(str(raw), key_prefix="proj/data/train")
    assert train == f"s3://{bucket}/proj/data/train"
    write_script(tmp_path, "train.py", TRAIN)
    est = Estimator(entry_point=str(tmp_path / "train.py"), instance_type="local", role="r")
    est.fit({"train": train}, logs=False)
    desc = est.latest_training_job.describe()
    name = desc["TrainingJobName"]
    assert desc["TrainingJobStatus"] == "Completed"
    assert desc["OutputDataConfig"]["S3OutputPath"] == f"s3://{bucket}"
    assert desc["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{bucket}/{name}/output/model.tar.gz"
    assert "file://" not in json.dumps(desc, default=str)  # the user's URIs and s3:// outputs, never internal paths
    assert est.model_data == desc["ModelArtifacts"]["S3ModelArtifacts"]
    assert _model_file(S3Downloader.read_bytes(est.model_data)) == "a.csv,b.csv:3"
    assert (Path(health["store"][len("file://"):]) / name / "output" / "model.tar.gz").is_file()


def test_processing_default_output_is_in_the_default_bucket(session, tmp_path: Path) -> None:
    write_script(tmp_path, "proc.py", """
        import os
        os.makedirs("/opt/ml/processing/out", exist_ok=True)
        open("/opt/ml/processing/out/result.txt", "w").write("done")
    """)
    p = ScriptProcessor(command=["python3"], instance_type="local", role="r")
    p.run(code=str(tmp_path / "proc.py"), outputs=[ProcessingOutput(source="/opt/ml/processing/out",
                                                                     output_name="result")], logs=False)
    desc = p.latest_job.describe()
    name = desc["ProcessingJobName"]
    dest = desc["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert dest == f"s3://{session.default_bucket()}/{name}/output/result"
    assert "file://" not in json.dumps(desc, default=str)
    assert S3Downloader.read_file(f"{dest}/result.txt") == "done"


def test_a_sessions_own_default_bucket_and_prefix_hold_its_outputs(session, tmp_path: Path) -> None:
    """``Session(default_bucket=..., default_bucket_prefix=...)``: outputs that name no destination
    go there, as SageMaker builds its default output paths from the Session's bucket and prefix."""
    session.create_bucket("team-bucket")
    sess = mlyard.Session(default_bucket="team-bucket", default_bucket_prefix="proj")
    write_script(tmp_path, "train.py", TRAIN)
    data = S3Uploader.upload_string_as_file_body("1,2\n3,4\n", "s3://team-bucket/proj/data/a.csv", sess)
    est = Estimator(entry_point=str(tmp_path / "train.py"), instance_type="local", role="r", sagemaker_session=sess)
    est.fit({"train": data.rsplit("/", 1)[0]}, logs=False)
    name = est.latest_training_job.job_name
    assert est.model_data == f"s3://team-bucket/proj/{name}/output/model.tar.gz"
    assert S3Downloader.list(f"s3://team-bucket/proj/{name}", sess) == [est.model_data]
    assert _model_file(S3Downloader.read_bytes(est.model_data, sess)) == "a.csv:2"
    assert mlyard.Session()._default_output() is None  # the server's own default bucket: its default


def test_created_bucket_with_the_s3_helpers(session, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlyard.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["buckets", "create", "my-data"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["buckets", "list"])
    assert "my-data" in result.output and session.default_bucket() in result.output
    (tmp_path / "one.txt").write_text("hello")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "x.txt").write_text("x")
    (folder / "sub" / "y.txt").write_text("y")
    assert S3Uploader.upload(str(tmp_path / "one.txt"), "s3://my-data/in") == "s3://my-data/in/one.txt"
    assert S3Uploader.upload(str(folder), "s3://my-data/dir") == "s3://my-data/dir"
    assert S3Uploader.upload_string_as_file_body("text", "s3://my-data/s.txt") == "s3://my-data/s.txt"
    assert S3Uploader.upload_bytes(b"\x00\x01", "s3://my-data/b.bin") == "s3://my-data/b.bin"
    assert S3Downloader.list("s3://my-data/dir") == ["s3://my-data/dir/sub/y.txt", "s3://my-data/dir/x.txt"]
    assert S3Downloader.read_file("s3://my-data/in/one.txt") == "hello"
    assert S3Downloader.read_bytes("s3://my-data/b.bin") == b"\x00\x01"
    got = S3Downloader.download("s3://my-data/dir", str(tmp_path / "down"))
    assert sorted(got) == [str(tmp_path / "down" / "sub" / "y.txt"), str(tmp_path / "down" / "x.txt")]
    assert (tmp_path / "down" / "sub" / "y.txt").read_text() == "y"
    assert session.list_s3_files("my-data", "dir") == ["dir/sub/y.txt", "dir/x.txt"]
    assert session.read_s3_file("my-data", "s.txt") == "text"
    assert session.upload_string_as_file_body("z", "my-data", "z/z.txt") == "s3://my-data/z/z.txt"
    health = session.client.health()
    assert health["buckets"]["my-data"] == f"file://{health['home']}/buckets/my-data"
    assert (Path(health["home"]) / "buckets" / "my-data" / "in" / "one.txt").read_text() == "hello"
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    for text in ("my-data", session.default_bucket(), "region", "s3fs installed", "AWS_ENDPOINT_URL"):
        assert text in result.output


def test_local_buckets_from_the_environment(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLYARD_LOCAL_BUCKETS", "team-bucket")
    sess = mlyard.Session()
    assert sess.client.list_buckets()["buckets"]["team-bucket"] == f"file://{home}/buckets/team-bucket"
    (tmp_path / "f.csv").write_text("1\n")
    uri = sess.upload_data(str(tmp_path / "f.csv"), bucket="team-bucket", key_prefix="d")
    assert uri == "s3://team-bucket/d/f.csv"
    assert sess.client.read_uri(uri) == b"1\n"
    assert (home / "buckets" / "team-bucket" / "d" / "f.csv").read_text() == "1\n"


def test_bad_uris_are_refused_naming_the_argument(session, tmp_path: Path) -> None:
    write_script(tmp_path, "train.py", TRAIN)
    client = session.client
    bucket = session.default_bucket()
    est = Estimator(entry_point=str(tmp_path / "train.py"), instance_type="local", role="r")
    cases = [
        ({"train": "s3:/x/y"}, None, "channel 'train'.*not a valid S3 URI"),
        ({"train": "s3:///key"}, None, "channel 'train'.*names no bucket"),
        ({"train": "s3://Bad_Bucket/x"}, None, "channel 'train'.*'Bad_Bucket' is not a valid S3 bucket name"),
        ({"train": f"s3://{bucket}/nothing-here"}, None, "channel 'train'.*does not exist"),
        (None, "s3:/out", r"S3OutputPath.*not a valid S3 URI"),
    ]
    for inputs, output, pattern in cases:
        est.output_path = output
        with pytest.raises(ValidationError, match=pattern):
            est.fit(inputs, logs=False, wait=False)
    est.output_path = None
    with pytest.raises(ValidationError, match="ModelDataUrl.*names a bucket but no object"):
        client.create_model({"ModelName": "m", "PrimaryContainer": {"Image": "x", "ModelDataUrl": f"s3://{bucket}"},
                             "MlyardConfig": {}})
    with pytest.raises(ValidationError, match="uri.*names a bucket but no object"):
        client.upload_uri(f"s3://{bucket}", b"x")
    with pytest.raises(ValidationError, match="sources/ folder holds jobs' code"):
        client.upload_uri(f"s3://{bucket}/sources/abc/x.tar.gz", b"x")
    with pytest.raises(ValidationError, match="outside the store"):
        client.read_uri(f"file://{Path(client.health()['home']) / 'token'}")
    with pytest.raises(ValidationError, match="not a valid S3 bucket name"):
        client.create_bucket("No_Such")


def test_unreachable_bucket_says_how_to_make_it_local(home: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("s3fs")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    sess = mlyard.Session()
    write_script(tmp_path, "train.py", TRAIN)
    est = Estimator(entry_point=str(tmp_path / "train.py"), instance_type="local", role="r", sagemaker_session=sess)
    started = time.monotonic()
    with pytest.raises(ValidationError) as info:
        est.fit({"train": "s3://not-configured-bucket/data"}, logs=False, wait=False)
    assert time.monotonic() - started < 15
    message = str(info.value)
    assert "channel 'train'" in message and "'not-configured-bucket'" in message
    assert "S3 could not be reached" in message
    assert "mlyard buckets create not-configured-bucket" in message and "AWS_ENDPOINT_URL" in message
    # Reading from it is refused the same way: a 400 naming the bucket, never a 500.
    with pytest.raises(ValidationError, match="'not-configured-bucket'.*S3 could not be reached"):
        S3Downloader.read_file("s3://not-configured-bucket/data/x.txt", sess)
    with pytest.raises(ValidationError, match="'not-configured-bucket'.*S3 could not be reached"):
        S3Downloader.list("s3://not-configured-bucket/data", sess)


def test_without_s3fs_a_foreign_bucket_says_how_to_fix_it(home: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    shadow = tmp_path / "shadow" / "s3fs"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('s3fs is hidden by the test')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")]))
    sess = mlyard.Session()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("w")
    sess.client.create_model({"ModelName": "m", "PrimaryContainer": {"ModelDataUrl": f"file://{tmp_path / 'model'}"}})
    with pytest.raises(ValidationError) as info:
        sess.client.create_endpoint_config({
            "EndpointConfigName": "c", "ProductionVariants": [{"VariantName": "v", "ModelName": "m"}],
            "DataCaptureConfig": {"DestinationS3Uri": "s3://somebody-elses-bucket/capture"}})
    message = str(info.value)
    assert "data capture (DestinationS3Uri)" in message and "'somebody-elses-bucket'" in message
    assert "s3fs (the 's3' extra) is not installed" in message and "mlyard[s3]" in message
    assert "mlyard buckets create somebody-elses-bucket" in message


# -- real S3: an S3-compatible server on loopback -------------------------------------------------------
def _s3_keys(bucket: str, prefix: str = "") -> list[str]:
    import boto3

    resp = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def test_training_reads_and_writes_real_s3(moto: str, tmp_path: Path) -> None:
    import boto3

    s3 = boto3.client("s3")
    s3.put_object(Bucket=moto, Key="data/train/a.csv", Body=b"1\n2\n")
    s3.put_object(Bucket=moto, Key="data/train/b.csv", Body=b"3\n")
    write_script(tmp_path, "train.py", TRAIN)
    sess = mlyard.Session()
    health = sess.client.health()
    assert health["s3"]["s3fs_installed"] and health["s3"]["endpoint_url"] == os.environ["AWS_ENDPOINT_URL"]
    assert moto not in health["buckets"]
    est = Estimator(entry_point=str(tmp_path / "train.py"), instance_type="local", role="r",
                    output_path=f"s3://{moto}/out", sagemaker_session=sess)
    est.fit({"train": f"s3://{moto}/data/train"}, logs=False)
    desc = est.latest_training_job.describe()
    name = desc["TrainingJobName"]
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{moto}/out/{name}/output/model.tar.gz"
    body = s3.get_object(Bucket=moto, Key=f"out/{name}/output/model.tar.gz")["Body"].read()
    assert _model_file(body) == "a.csv,b.csv:3"
    assert _model_file(S3Downloader.read_bytes(est.model_data, sess)) == "a.csv,b.csv:3"


def test_processing_output_to_real_s3(moto: str, tmp_path: Path) -> None:
    write_script(tmp_path, "proc.py", """
        import os
        os.makedirs("/opt/ml/processing/out/sub", exist_ok=True)
        open("/opt/ml/processing/out/sub/r.txt", "w").write("real s3")
    """)
    p = ScriptProcessor(command=["python3"], instance_type="local", role="r")
    p.run(code=str(tmp_path / "proc.py"), outputs=[ProcessingOutput(
        source="/opt/ml/processing/out", destination=f"s3://{moto}/processed")], logs=False)
    assert p.latest_job.describe()["ProcessingJobStatus"] == "Completed"
    assert _s3_keys(moto, "processed/") == ["processed/sub/r.txt"]


def test_s3_helpers_against_real_s3(moto: str, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("to s3")
    sess = mlyard.Session()
    assert S3Uploader.upload(str(tmp_path / "f.txt"), f"s3://{moto}/up", sagemaker_session=sess) == \
        f"s3://{moto}/up/f.txt"
    S3Uploader.upload_string_as_file_body("body", f"s3://{moto}/up/s.txt", sagemaker_session=sess)
    assert _s3_keys(moto, "up/") == ["up/f.txt", "up/s.txt"]
    assert S3Downloader.list(f"s3://{moto}/up", sess) == [f"s3://{moto}/up/f.txt", f"s3://{moto}/up/s.txt"]
    assert S3Downloader.read_file(f"s3://{moto}/up/s.txt", sess) == "body"
    got = S3Downloader.download(f"s3://{moto}/up", str(tmp_path / "down"), sagemaker_session=sess)
    assert sorted(Path(g).name for g in got) == ["f.txt", "s.txt"]
    assert (tmp_path / "down" / "f.txt").read_text() == "to s3"


def test_reading_a_missing_object_of_real_s3_is_a_client_error(moto: str) -> None:
    sess = mlyard.Session()
    with pytest.raises(mlyard.errors.NotFoundError):
        S3Downloader.read_file(f"s3://{moto}/nothing/here.txt", sess)
    with pytest.raises(ValidationError, match="'no-such-moto-bucket'.*S3 has no such bucket"):
        S3Downloader.read_file("s3://no-such-moto-bucket/x.txt", sess)


def test_missing_real_bucket_is_refused_at_create(moto: str, tmp_path: Path) -> None:
    write_script(tmp_path, "train.py", TRAIN)
    est = Estimator(entry_point=str(tmp_path / "train.py"), instance_type="local", role="r",
                    output_path="s3://no-such-moto-bucket/out")
    with pytest.raises(ValidationError, match="S3OutputPath.*'no-such-moto-bucket'.*S3 has no such bucket"):
        est.fit(logs=False, wait=False)
