"""Which local folders jobs, models and endpoints may read: never the server's home, system or
credential folders, nor through links that leave a source's folder; devices and FIFOs are never
opened. Checked when they are created (400 naming the input) and again when a runner copies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_for, write_script

import mlyard
from mlyard.errors import NotFoundError, ValidationError
from mlyard.estimator import Estimator
from mlyard.inputs import TrainingInput
from mlyard.jobs import TrainingJob
from mlyard.model import Model
from mlyard.processing import ProcessingInput, ScriptProcessor

SHOW = """
    import os, sys
    root = os.environ["SM_CHANNEL_TRAIN"]
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            print("FILE", os.path.relpath(path, root), open(path, errors="replace").read().strip())
"""


def _estimator(tmp_path: Path, **kwargs: Any) -> Estimator:
    write_script(tmp_path / "src", "show.py", SHOW)
    return Estimator(entry_point="show.py", source_dir=str(tmp_path / "src"), instance_type="local", role="r",
                     **kwargs)


def _fit_on_server(est: Estimator, inputs: dict[str, Any], wait: bool = True) -> None:
    """Create ``est``'s job through the raw API with its ``file://`` channels as paths on the
    server's machine (``fit`` would upload them from the client's); the code is stored as
    ``fit`` stores it. What the server may read is what these tests check."""
    client = est.sagemaker_session.client
    source = est._source()
    req = est._request(None, inputs, source)
    req["HyperParameters"]["sagemaker_submit_directory"] = json.dumps(client.upload_source(source.path,
                                                                                           source.path.name))
    est.latest_training_job = TrainingJob(est.sagemaker_session, client.create_training_job(req)["TrainingJobName"])
    if wait:
        est.latest_training_job.wait(logs=False)


def _job(session: mlyard.Session, name: str, submit: str, channels: dict[str, str] | None = None) -> dict[str, Any]:
    req = {"TrainingJobName": name, "ResourceConfig": {"InstanceType": "local"},
           "HyperParameters": {"sagemaker_submit_directory": submit, "sagemaker_program": "show.py"},
           "InputDataConfig": [{"ChannelName": c, "DataSource": {"S3DataSource": {"S3Uri": uri}}}
                               for c, uri in (channels or {}).items()]}
    return session.client.create_training_job(req)


@pytest.mark.parametrize("sandbox", [False, True])
@pytest.mark.parametrize("where", ["/etc", "/proc/self", "/", "home", "home-token"])
def test_channels_in_system_folders_or_the_home_are_refused(session, home: Path, tmp_path: Path, where: str,
                                                            sandbox: bool) -> None:
    uri = {"home": f"file://{home}", "home-token": f"file://{home}/token"}.get(where, f"file://{where}")
    session.client.request("GET", "/v1/health")  # the server (and its token) exist
    with pytest.raises(ValidationError, match=r"channel 'train'.*cannot be read by jobs") as err:
        _fit_on_server(_estimator(tmp_path, sandbox=sandbox), {"train": TrainingInput(uri)})
    assert "MLYARD_ALLOWED_ROOTS" in str(err.value)
    assert not (home / "jobs").exists() or not list((home / "jobs").iterdir())


def test_a_link_out_of_a_channel_is_refused(session, home: Path, tmp_path: Path, data_dir: Path) -> None:
    session.client.request("GET", "/v1/health")
    (data_dir / "stolen").symlink_to(home / "token")
    with pytest.raises(ValidationError, match=r"channel 'train'.*link 'stolen' that leads out"):
        _fit_on_server(_estimator(tmp_path), {"train": TrainingInput(f"file://{data_dir}")})
    (data_dir / "stolen").unlink()
    (data_dir / "sub").mkdir()
    (data_dir / "sub" / "etc").symlink_to("/etc")
    with pytest.raises(ValidationError, match=r"link 'sub/etc' that leads out"):
        _fit_on_server(_estimator(tmp_path), {"train": TrainingInput(f"file://{data_dir}")})
    # A channel that is itself a link to a refused folder is as refused as the folder.
    (tmp_path / "innocent").symlink_to(home)
    with pytest.raises(ValidationError, match=r"cannot be read by jobs"):
        _fit_on_server(_estimator(tmp_path), {"train": TrainingInput(f"file://{tmp_path / 'innocent'}")})


def test_links_inside_a_channel_are_followed(session, tmp_path: Path, data_dir: Path) -> None:
    (data_dir / "same.csv").symlink_to("a.csv")
    est = _estimator(tmp_path)
    _fit_on_server(est, {"train": TrainingInput(f"file://{data_dir}")})
    logs = _logs(session, est.latest_training_job.name)
    assert "FILE same.csv 1,2" in logs and "FILE a.csv 1,2" in logs


def _logs(session: mlyard.Session, name: str) -> str:
    return b"".join(session.client.job_logs(name)).decode()


def _hold_the_machine(session: mlyard.Session, tmp_path: Path) -> tuple[Estimator, Path]:
    """A job that takes every CPU until ``flag`` exists, so the next job waits in the queue."""
    flag = tmp_path / "go"
    write_script(tmp_path / "hold", "hold.py", f"""
        import os, time
        while not os.path.exists({str(flag)!r}):
            time.sleep(0.05)
    """)
    blocker = Estimator(entry_point="hold.py", source_dir=str(tmp_path / "hold"), instance_type="ml.m5.large",
                        role="r")
    blocker.fit(wait=False)
    wait_for(lambda: blocker.latest_training_job.describe()["SecondaryStatus"] == "Training")
    return blocker, flag


def test_a_link_made_after_the_check_is_not_followed(session, home: Path, tmp_path: Path, data_dir: Path) -> None:
    blocker, flag = _hold_the_machine(session, tmp_path)
    write_script(tmp_path / "src", "show.py", SHOW)
    est = Estimator(entry_point="show.py", source_dir=str(tmp_path / "src"), instance_type="ml.m5.large", role="r")
    _fit_on_server(est, {"train": TrainingInput(f"file://{data_dir}")}, wait=False)
    job = est.latest_training_job
    assert job.describe()["SecondaryStatus"] == "Pending"  # accepted: the folder was clean
    (data_dir / "later").symlink_to(home / "token")
    flag.touch()
    desc = wait_for(lambda: (d := job.describe())["TrainingJobStatus"] in ("Completed", "Failed") and d, 60)
    token = (home / "token").read_text().strip()
    assert desc["TrainingJobStatus"] == "Failed", desc
    assert desc["FailureReason"].startswith("ClientError:") and "'later'" in desc["FailureReason"]
    assert "leads out" in desc["FailureReason"]
    for path in Path(home / "jobs" / job.name).rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert token not in path.read_text(errors="replace")


def test_special_files_in_a_source_are_never_read(session, tmp_path: Path, data_dir: Path) -> None:
    src = tmp_path / "code"
    write_script(src, "show.py", SHOW)
    os.mkfifo(src / "pipe")
    os.mkfifo(data_dir / "pipe")
    name = "special-files"
    _job(session, name, f"file://{src}", {"train": f"file://{data_dir}"})
    desc = session.client.wait_job(name, timeout=60)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    logs = _logs(session, name)
    assert "FILE a.csv" in logs and "FILE b.csv" in logs and "pipe" not in logs


@pytest.mark.parametrize("submit", ["/", "file:///", "/etc", "file:///proc/self", "home", "home/token"])
def test_submit_directories_are_checked_at_create(session, home: Path, submit: str) -> None:
    session.client.request("GET", "/v1/health")
    uri = submit.replace("home", str(home), 1) if submit.startswith("home") else submit
    with pytest.raises(ValidationError, match=r"sagemaker_submit_directory.*cannot be read by jobs"):
        _job(session, "root-source", uri)
    with pytest.raises(NotFoundError):
        session.client.describe_job("root-source")


def test_a_link_in_a_submit_directory_made_later_is_not_followed(session, home: Path, tmp_path: Path) -> None:
    blocker, flag = _hold_the_machine(session, tmp_path)
    src = tmp_path / "code"
    write_script(src, "show.py", "print('ran')\n")
    req = {"TrainingJobName": "later-link", "ResourceConfig": {"InstanceType": "ml.m5.large"},
           "HyperParameters": {"sagemaker_submit_directory": str(src), "sagemaker_program": "show.py"}}
    session.client.create_training_job(req)
    (src / "token").symlink_to(home / "token")
    flag.touch()
    desc = wait_for(lambda: (d := session.client.describe_job("later-link"))["TrainingJobStatus"]
                    in ("Completed", "Failed") and d, 60)
    assert desc["TrainingJobStatus"] == "Failed"
    assert "ClientError" in desc["FailureReason"] and "'token'" in desc["FailureReason"]
    assert not (home / "jobs" / "later-link" / "code" / "token").exists()


def test_processing_inputs_and_models_are_checked(session, home: Path, tmp_path: Path) -> None:
    session.client.request("GET", "/v1/health")
    proc = ScriptProcessor(command=["python3"], image_uri="local", role="r", instance_count=1,
                           instance_type="local")
    write_script(tmp_path, "p.py", "print('x')\n")
    with pytest.raises(ValidationError, match=r"input 'secrets'.*cannot be read by jobs"):
        session.client.create_processing_job(proc._request(None, ["python3", "-c", "pass"], [ProcessingInput(
            source="file:///etc", destination="/opt/ml/processing/input/secrets", input_name="secrets")], [], [], {}))
    with pytest.raises(ValidationError, match=r"ModelDataUrl.*cannot be read by jobs"):
        session.client.create_model(Model(model_data=f"file://{home}", role="r")._request(None, None))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").symlink_to(home / "token")
    with pytest.raises(ValidationError, match=r"ModelDataUrl.*link 'model.joblib' that leads out"):
        session.client.create_model(Model(model_data=str(model_dir), role="r")._request(None, None))


def test_allowed_roots_limit_local_sources(home: Path, tmp_path: Path, data_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = tmp_path / "allowed"
    (allowed / "train").mkdir(parents=True)
    (allowed / "train" / "x.csv").write_text("7,8\n")
    monkeypatch.setenv("MLYARD_ALLOWED_ROOTS", f"{allowed}{os.pathsep}{tmp_path / 'also'}")
    session = mlyard.Session()
    health = session.client.request("GET", "/v1/health")
    assert health["sources"]["allowed"] == sorted([str(allowed), str(tmp_path / "also")])
    with pytest.raises(ValidationError, match=r"outside the folders this server allows"):
        _fit_on_server(_estimator(tmp_path), {"train": TrainingInput(f"file://{data_dir}")})
    est = _estimator(tmp_path)
    _fit_on_server(est, {"train": TrainingInput(f"file://{allowed / 'train'}")})
    assert "FILE x.csv 7,8" in _logs(session, est.latest_training_job.name)


def test_a_model_tarball_that_is_a_fifo_is_refused(session, tmp_path: Path) -> None:
    # A model.tar.gz path that is a FIFO must never be opened for reading (it would block).
    os.mkfifo(tmp_path / "fifo.tar.gz")
    with pytest.raises(ValidationError, match=r"not a regular file"):
        Model(model_data=str(tmp_path / "fifo.tar.gz"), role="r").create()


@pytest.mark.parametrize("source_dir", ["/", "/proc/self"])
def test_the_sdk_does_not_pack_the_machine(session, source_dir: str) -> None:
    entry = "etc/hostname" if source_dir == "/" else "status"
    with pytest.raises(ValidationError, match=r"source_dir .* is not a project folder"):
        Estimator(entry_point=entry, source_dir=source_dir, instance_type="local", role="r").fit(logs=False)


@pytest.mark.parametrize("where", ["/etc", "/", "home", "sources"])
def test_output_destinations_are_checked_at_create(session, home: Path, tmp_path: Path, where: str) -> None:
    """The runner writes outputs with the server's rights: never into system folders or the home,
    nor over the store's content-addressed sources (which other jobs run)."""
    from mlyard.processing import ProcessingOutput

    store_root = session.client.request("GET", "/v1/health")["store"]
    dest = {"home": f"file://{home}/outputs", "sources": f"{store_root}/sources/{'0' * 64}"}.get(
        where, f"file://{where}")
    with pytest.raises(ValidationError, match=r"OutputDataConfig.S3OutputPath.*cannot be written by jobs|not a URI"):
        _estimator(tmp_path, output_path=dest).fit(logs=False)
    write_script(tmp_path, "p.py", "print('x')\n")
    proc = ScriptProcessor(command=["python3"], role="r", instance_count=1, instance_type="local")
    with pytest.raises(ValidationError, match=r"output 'out'.*cannot be written by jobs"):
        proc.run(code=str(tmp_path / "p.py"), outputs=[ProcessingOutput(
            source="/opt/ml/processing/out", destination=dest, output_name="out")], logs=False)
    assert not (home / "jobs").exists() or not list((home / "jobs").iterdir())


def test_a_destination_swapped_for_a_link_after_create_is_not_written(session, home: Path, tmp_path: Path) -> None:
    """The runner writes outputs with more rights than their submitter: where they land is checked
    again when they are written, so a folder swapped for a link into mlyard's home gets nothing."""
    from mlyard.errors import UnexpectedStatusException
    from mlyard.processing import ProcessingOutput

    out = tmp_path / "out"
    out.mkdir()
    write_script(tmp_path, "late.py", """
        import time
        time.sleep(3)
        open("/opt/ml/processing/out/passwd", "w").write("owned")
    """)
    proc = ScriptProcessor(command=["python3"], role="r", instance_count=1, instance_type="local")
    proc.run(code=str(tmp_path / "late.py"), outputs=[ProcessingOutput(
        source="/opt/ml/processing/out", destination=f"file://{out}", output_name="out")], wait=False, logs=False)
    job = proc.latest_job
    wait_for(lambda: job.describe()["ProcessingJobStatus"] == "InProgress"
             and job.describe().get("SecondaryStatus") not in ("Pending", "Starting"), timeout=60)
    victim = home / "victim"
    victim.mkdir()
    out.rename(tmp_path / "out.moved")
    out.symlink_to(victim)
    with pytest.raises(UnexpectedStatusException, match="cannot be written by jobs"):
        job.wait(logs=False)
    assert not list(victim.iterdir())


def test_destinations_in_the_stored_inputs_are_refused_in_every_form(tmp_path: Path) -> None:
    """The store's inputs/ (like its sources/) is never a job's output, checkpoint or capture
    destination: not by the default bucket's s3:// URI, a file:// URI, a path through '..', nor
    in a store that is not local."""
    from mlyard import store
    from mlyard.store.paths import SourcePolicy

    home = tmp_path / "home"
    (home / "store" / "inputs" / "trees" / "abc").mkdir(parents=True)
    policy = SourcePolicy.from_environment(home, f"file://{home}/store")
    store.set_buckets({"dflt": f"file://{home}/store"})
    try:
        for uri in ("s3://dflt/inputs/trees/abc", "s3://dflt/inputs", f"file://{home}/store/inputs/files/x/a.csv",
                    f"{home}/store/x/../inputs/trees/abc", f"file://{home}/store//inputs/trees"):
            with pytest.raises(ValidationError, match="inputs/ folder holds the inputs"):
                policy.check_destination("output", uri)
        policy.check_destination("output", "s3://dflt/outputs/inputs")  # only the store's own inputs/
        policy.check_destination("output", "s3://dflt")
    finally:
        store.set_buckets({})
    remote = SourcePolicy((), None, None, "s3://real/pre")
    for uri in ("s3://real/pre/inputs/trees/abc", "s3://real/pre/./inputs", "s3://real/pre/sources/x"):
        with pytest.raises(ValidationError, match="folder holds"):
            remote.check_destination("output", uri)
    remote.check_destination("output", "s3://real/pre/inputs-old")
    with pytest.raises(ValidationError, match="output: .*control character"):
        policy.check_destination("output", "file:///tmp/a\x00b")
    with pytest.raises(ValidationError, match="input: .*control character"):
        policy.check("input", "/tmp/a\nb")
