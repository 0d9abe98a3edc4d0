"""Bad input is refused when it is submitted, with a client error that names what was wrong."""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

import httpx
import pytest
from conftest import write_script

import mlyard
from mlyard.errors import NotFoundError, UnexpectedStatusException, ValidationError
from mlyard.estimator import Estimator
from mlyard.model import Model
from mlyard.processing import ScriptProcessor
from mlyard.transformer import Transformer


def _store_files(session: mlyard.Session) -> list[str]:
    root = Path(session.client.health()["store"][len("file://"):])
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _api(session: mlyard.Session, method: str, path: str, **kw: object) -> httpx.Response:
    h = {"Authorization": f"Bearer {session.client.token}"}
    return httpx.request(method, f"{session.client.url}{path}", headers=h, **kw)  # type: ignore[arg-type]


def _est(tmp_path: Path, **kw: object) -> Estimator:
    script = write_script(tmp_path, "t.py", "print('ran')\n")
    return Estimator(entry_point=str(script), role="r", instance_type="local", **kw)  # type: ignore[arg-type]


def _model_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# -- hyperparameters, environment, command lines ---------------------------------------------------
@pytest.mark.parametrize("hps, match", [
    ({"big": "x" * 3000}, "hyperparameter 'big' has a value of 3002 characters; the limit is 2500"),
    ({f"h{i}": i for i in range(10_000)}, "10005 hyperparameters given; the limit is 100"),
    ({f"h{i}": "x" * 2400 for i in range(90)}, "the hyperparameters take .* bytes as JSON; the limit is 65536"),
    ({"k" * 300: 1}, "hyperparameter name 'kkk.*is 300 characters long; the limit is 256"),
])
def test_oversized_hyperparameters_are_refused_by_the_sdk_before_anything_is_stored(session, tmp_path: Path,
                                                                                     hps, match) -> None:
    with pytest.raises(ValidationError, match=match):
        _est(tmp_path, hyperparameters=hps).fit(logs=False)
    assert _store_files(session) == []
    assert session.client.list_jobs() == []


def test_oversized_hyperparameters_and_environment_get_a_400_that_names_them(session) -> None:
    job = {"TrainingJobName": "j", "ResourceConfig": {"InstanceType": "local"}}
    cases = [
        ({"HyperParameters": {"big": "x" * 200_000}}, "hyperparameter 'big'"),
        ({"HyperParameters": {f"h{i}": "1" for i in range(10_000)}}, "hyperparameters given; the limit is 100"),
        ({"HyperParameters": {f"h{i}": '"' + "x" * 2000 + '"' for i in range(60)}}, "hyperparameters take"),
        ({"Environment": {"BIG": "x" * 600}}, "environment variable 'BIG' has a value of 600"),
        ({"Environment": {f"E{i}": "1" for i in range(101)}}, "101 environment variables given"),
    ]
    for extra, match in cases:
        r = _api(session, "POST", "/v1/training-jobs", json={**job, **extra})
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "ValidationException" and match in r.json()["message"], r.json()
    r = _api(session, "POST", "/v1/processing-jobs", json={
        "ProcessingJobName": "p", "ProcessingResources": {"ClusterConfig": {"InstanceType": "local"}},
        "AppSpecification": {"ContainerEntrypoint": ["python3", "-c", "print(1)"],
                             "ContainerArguments": ["x" * 200_000]}})
    assert r.status_code == 400 and "ContainerArguments[0]" in r.json()["message"], r.text
    assert session.client.list_jobs() == []


def test_oversized_environment_is_refused_by_the_sdk(session, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="environment variable 'BIG' has a value of 600 characters"):
        _est(tmp_path, environment={"BIG": "x" * 600}).fit(logs=False)
    proc = ScriptProcessor(role="r", instance_type="local", command=["python3"], env={"BIG": "x" * 600})
    with pytest.raises(ValidationError, match="environment variable 'BIG'"):
        proc.run(code=str(write_script(tmp_path, "p.py", "print(1)\n")))
    with pytest.raises(ValidationError, match=r"arguments\[0\] is 200000 characters long"):
        ScriptProcessor(role="r", instance_type="local", command=["python3"]).run(
            code=str(tmp_path / "p.py"), arguments=["x" * 200_000])
    assert _store_files(session) == []


def test_the_largest_allowed_hyperparameters_run(session, tmp_path: Path) -> None:
    script = write_script(tmp_path, "t.py", """
        import json, os
        print('hps', len(json.loads(os.environ['SM_HPS'])))
    """)
    hps = {f"h{i}": "x" * 600 for i in range(90)}
    est = Estimator(entry_point=str(script), role="r", instance_type="local", hyperparameters=hps)
    est.fit(logs=False)
    assert est.latest_training_job.describe()["TrainingJobStatus"] == "Completed"
    assert "hps 90" in b"".join(session.client.job_logs(est.latest_training_job.name)).decode()


# -- names -----------------------------------------------------------------------------------------
BAD_NAMES = ["a?b=1", "a#b", "../evil", "a\nb", "a b", "-a", "a_b", "x" * 64]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_job_names_are_refused_before_anything_is_stored(session, tmp_path: Path, name: str) -> None:
    with pytest.raises(ValidationError, match="job_name"):
        _est(tmp_path).fit(job_name=name, logs=False)
    with pytest.raises(ValidationError, match="job_name"):
        ScriptProcessor(role="r", instance_type="local", command=["python3"]).run(
            code=str(write_script(tmp_path, "p.py", "print(1)\n")), job_name=name)
    assert _store_files(session) == []
    assert session.client.list_jobs() == []
    home = Path(os.environ["MLYARD_HOME"])
    assert not [p for p in home.rglob("*.partial")]
    with pytest.raises(NotFoundError):  # asked for as a name, whatever characters it has
        session.client.describe_job(name)


def test_bad_names_get_a_400_that_names_the_field(session) -> None:
    for name in ["a?b=1", "a#b", "../evil", "a\nb", "x" * 64]:
        r = _api(session, "POST", "/v1/training-jobs",
                 json={"TrainingJobName": name, "ResourceConfig": {"InstanceType": "local"}})
        assert r.status_code == 400 and "TrainingJobName" in r.json()["message"], r.text
        r = _api(session, "POST", "/v1/models", json={"ModelName": name, "PrimaryContainer": {}})
        assert r.status_code == 400 and "ModelName" in r.json()["message"], r.text
        r = _api(session, "POST", "/v1/endpoints", json={"EndpointName": name, "EndpointConfigName": "c"})
        assert r.status_code == 400 and "EndpointName" in r.json()["message"], r.text
    assert _store_files(session) == []


def test_bad_model_endpoint_and_transform_names_are_refused(session, tmp_path: Path) -> None:
    tar = _model_tar(tmp_path / "model.tar.gz", {"model.txt": b"m"})
    with pytest.raises(ValidationError, match="model name 'a_b'"):
        Model(model_data=str(tar), name="a_b", sagemaker_session=session).create()
    model = Model(model_data=str(tar), sagemaker_session=session)
    with pytest.raises(ValidationError, match="endpoint_name 'a#b'"):
        model.deploy(1, "local", endpoint_name="a#b")
    with pytest.raises(ValidationError, match=re.escape("job_name 'a?b=1'")):
        Transformer(model.create(), 1, "local", sagemaker_session=session).transform(str(tar), job_name="a?b=1")
    assert session.client.list_endpoints() == []
    assert session.client.list_jobs() == []


# -- instance counts ---------------------------------------------------------------------------------
def test_instance_counts_below_one_are_refused(session, tmp_path: Path) -> None:
    tar = _model_tar(tmp_path / "model.tar.gz", {"model.txt": b"m"})
    model = Model(model_data=str(tar), sagemaker_session=session)
    with pytest.raises(ValidationError, match="initial_instance_count must be an integer of at least 1, not 0"):
        model.deploy(initial_instance_count=0, instance_type="local")
    assert session.client.list_endpoints() == []
    with pytest.raises(ValidationError, match="instance_count"):
        Transformer("m", 0, "local", sagemaker_session=session)
    with pytest.raises(ValidationError, match="instance_count"):
        _est(tmp_path, instance_count=0)
    r = _api(session, "POST", "/v1/endpoint-configs", json={
        "EndpointConfigName": "c", "ProductionVariants": [
            {"VariantName": "v", "ModelName": model.create(), "InitialInstanceCount": 0}]})
    assert r.status_code == 400 and "InitialInstanceCount" in r.json()["message"], r.text


# -- the user's archives and sources -------------------------------------------------------------------
def test_a_model_that_is_not_a_tar_archive_is_refused_at_create(session, tmp_path: Path) -> None:
    bogus = tmp_path / "model.tar.gz"
    bogus.write_bytes(b"this is not an archive")
    with pytest.raises(ValidationError, match="is not a readable tar.gz archive"):
        Model(model_data=str(bogus), sagemaker_session=session).create()


@pytest.mark.parametrize("kind", ["truncated", "escaping"])
def test_a_broken_model_archive_fails_the_transform_job_as_a_client_error(session, tmp_path: Path,
                                                                          kind: str) -> None:
    if kind == "truncated":  # its first member's header is whole, so it is only found broken when read
        whole = _model_tar(tmp_path / "whole.tar.gz", {"model.bin": os.urandom(200_000)}).read_bytes()
        archive = tmp_path / "model.tar.gz"
        archive.write_bytes(whole[: len(whole) // 2])
    else:
        archive = _model_tar(tmp_path / "model.tar.gz", {"../evil.txt": b"x"})
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("1\n")
    model = Model(model_data=str(archive), sagemaker_session=session)
    transformer = Transformer(model.create(), 1, "local", sagemaker_session=session)
    with pytest.raises(UnexpectedStatusException):
        transformer.transform(str(tmp_path / "in"), logs=False)
    reason = transformer.describe()["FailureReason"]
    assert reason.startswith("ClientError:"), reason
    assert ("escapes" in reason) if kind == "escaping" else ("not a readable tar.gz archive" in reason), reason


def test_a_training_source_that_is_not_an_archive_fails_as_a_client_error(session, tmp_path: Path) -> None:
    uri = session.client.upload("junk/sourcedir.tar.gz", b"not a tarball")
    r = _api(session, "POST", "/v1/training-jobs", json={
        "TrainingJobName": "junk-source", "ResourceConfig": {"InstanceType": "local"},
        "HyperParameters": {"sagemaker_program": '"t.py"', "sagemaker_submit_directory": f'"{uri}"'}})
    assert r.status_code == 201, r.text
    with pytest.raises(UnexpectedStatusException):
        mlyard.jobs.TrainingJob(session, "junk-source").wait(logs=False)
    reason = session.describe_training_job("junk-source")["FailureReason"]
    assert reason.startswith("ClientError:") and "not a readable tar.gz archive" in reason, reason


def test_a_source_linking_outside_itself_is_refused_by_the_sdk(session, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_script(src, "t.py", "print(open('secret.txt').read())\n")
    (tmp_path / "secret.txt").write_text("s")
    (src / "secret.txt").symlink_to(tmp_path / "secret.txt")
    est = Estimator(entry_point="t.py", source_dir=str(src), role="r", instance_type="local")
    with pytest.raises(ValidationError, match="symbolic link .* outside the packed source"):
        est.fit(logs=False)
    (src / "secret.txt").unlink()
    (src / "secret.txt").symlink_to("/etc/hostname" if Path("/etc/hostname").exists() else "/etc/passwd")
    with pytest.raises(ValidationError, match="symbolic link"):
        est.fit(logs=False)
    assert _store_files(session) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_source_file_is_refused_by_the_sdk(session, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_script(src, "t.py", "print(1)\n")
    secret = write_script(src, "data.txt", "x")
    secret.chmod(0)
    try:
        with pytest.raises(ValidationError, match="cannot be read"):
            Estimator(entry_point="t.py", source_dir=str(src), role="r", instance_type="local").fit(logs=False)
    finally:
        secret.chmod(0o644)
