"""The thin SDK: pure request builders, names picked by the server, and local inputs uploaded by
the client by their content, against a server that cannot read the client's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import kill_tree

import mlyard
from mlyard.errors import ConflictError
from mlyard.estimator import Estimator
from mlyard.processing import ProcessingInput, ScriptProcessor
from mlyard.server.control import create_named

TRAIN = """import os, sys
root = os.environ['SM_CHANNEL_TRAIN']
files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
print('files:', files)
assert files == ['a.csv', 'sub/b.csv'], files
assert open(os.path.join(root, 'sub', 'b.csv')).read() == 'b\\n'
open(os.path.join(os.environ['SM_MODEL_DIR'], 'm.txt'), 'w').write('m')
"""
PROCESS = """import os
files = sorted(os.listdir('/opt/ml/processing/input/data'))
assert files == ['a.csv', 'sub'], files
"""


@pytest.fixture
def remote(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A server of another MLYARD_HOME, allowed to read only a folder of its own; the client
    points at it with MLYARD_URL/MLYARD_TOKEN. Yields the server's home."""
    server_home, allowed = tmp_path / "server-home", tmp_path / "server-allowed"
    server_home.mkdir()
    allowed.mkdir()
    env = {**os.environ, "MLYARD_HOME": str(server_home), "MLYARD_TOKEN": "thin-secret",
           "MLYARD_ALLOWED_ROOTS": str(allowed)}
    proc = subprocess.Popen([sys.executable, "-m", "mlyard", "server", "--port", "0"], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        url = line.split("listening on ")[1].split()[0]
        monkeypatch.setenv("MLYARD_URL", url)
        monkeypatch.setenv("MLYARD_TOKEN", "thin-secret")
        yield server_home
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
        for state in (server_home / "jobs").glob("*/state.json"):
            try:
                kill_tree(int(json.loads(state.read_text())["runner_pid"]))
            except (OSError, ValueError, KeyError):
                pass


def _data(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text("a\n")
    (root / "sub" / "b.csv").write_text("b\n")
    return root


def test_local_inputs_are_uploaded_to_a_server_that_cannot_read_them(remote: Path, tmp_path: Path) -> None:
    client_dir = tmp_path / "client"
    data = _data(client_dir / "data")
    (client_dir / "train.py").write_text(TRAIN)
    (client_dir / "process.py").write_text(PROCESS)
    session = mlyard.Session()
    assert str(session.client.health()["store"]).startswith(f"file://{remote}")
    store_root = f"s3://{session.default_bucket()}"  # the server's default bucket: its store

    est = Estimator(entry_point=str(client_dir / "train.py"), role="r", instance_type="local",
                    base_job_name="thin", sagemaker_session=session)
    request = est._request(None, {"train": str(data)}, source := est._source())
    text = json.dumps(request)  # pure: serializable before the job exists, nothing named or uploaded
    assert "TrainingJobName\": null" in text and f"file://{data}" in text and f"file://{source.path}" in text

    est.fit({"train": str(data)}, logs=False)
    desc = est.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["TrainingJobName"].startswith("thin-")  # named by the server from the base name
    uri = desc["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert uri.startswith(f"{store_root}/inputs/") and str(client_dir) not in json.dumps(desc, default=str)
    assert json.loads(desc["HyperParameters"]["sagemaker_job_name"]) == desc["TrainingJobName"]

    est.fit({"train": f"file://{data}"}, logs=False)  # the same content: the same stored folder
    again = est.latest_training_job.describe()
    assert again["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == uri
    assert again["TrainingJobName"] != desc["TrainingJobName"]

    proc = ScriptProcessor(command=["python3"], role="r", instance_type="local", instance_count=1,
                           sagemaker_session=session)
    proc.run(code=str(client_dir / "process.py"),
             inputs=[ProcessingInput(source=str(data), destination="/opt/ml/processing/input/data")], logs=False)
    pdesc = proc.latest_job.describe()
    assert pdesc["ProcessingJobStatus"] == "Completed", pdesc.get("FailureReason")
    uris = {i["InputName"]: i["S3Input"]["S3Uri"] for i in pdesc["ProcessingInputs"]}
    assert uris["input-1"] == uri
    assert uris["code"].startswith(f"{store_root}/sources/")
    assert str(client_dir) not in json.dumps(pdesc, default=str)


def test_input_uploads_are_content_addressed(home: Path, tmp_path: Path) -> None:
    from mlyard.client.uploads import tree_tar, upload_local

    client = mlyard.Session().client
    a, b = _data(tmp_path / "a"), _data(tmp_path / "b")
    os.utime(b / "a.csv", (1, 1))  # times and places do not change what is stored
    assert tree_tar(a, tmp_path / "a.tar") == tree_tar(b, tmp_path / "b.tar")
    uri = upload_local(client, f"file://{a}", "input")
    assert upload_local(client, str(b), "input") == uri
    assert uri.endswith(f"/inputs/{tree_tar(a, tmp_path / 'c.tar')}")
    assert uri.startswith(f"s3://{mlyard.Session().default_bucket()}/inputs/")
    stored = Path(str(client.health()["store"])[len("file://"):]) / uri.split("/", 3)[3]
    assert sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*")) == ["a.csv", "sub", "sub/b.csv"]
    file_uri = upload_local(client, str(a / "a.csv"), "input")
    assert file_uri.endswith("/a.csv") and "/inputs/" in file_uri
    with pytest.raises(mlyard.errors.ValidationError, match="immutable"):
        client.upload("inputs/x/a.csv", b"no")


def test_server_picks_a_new_name_when_one_is_taken() -> None:
    taken: list[str] = []

    def create(req: dict[str, Any]) -> dict[str, Any]:
        if not taken:  # the first name the server picks is taken meanwhile
            taken.append(req["TrainingJobName"])
            raise ConflictError("taken")
        return {"TrainingJobName": req["TrainingJobName"]}

    req: dict[str, Any] = {"TrainingJobName": None, "MlyardConfig": {"BaseName": "base"}}
    created = create_named(req, "TrainingJobName", create, lambda n: n in taken, "training")
    assert created["TrainingJobName"].startswith("base-") and created["TrainingJobName"] != taken[0]
    assert req["TrainingJobName"] is None  # the caller's request is left as it was

    def port_in_use(req: dict[str, Any]) -> dict[str, Any]:
        raise ConflictError("port in use")

    with pytest.raises(ConflictError, match="port"):  # another conflict is not retried
        create_named(req, "TrainingJobName", port_in_use, lambda n: False, "training")


def test_name_helpers() -> None:
    from mlyard import utils

    name = utils.name_from_base("x" * 80)
    assert len(name) == 63 and name.startswith("x")
    short = utils.name_from_base("tuning-base-name", max_length=32, short=True)
    assert len(short) <= 32 and short.startswith("tuning-bas")
    assert utils.base_name_from_image("123.dkr.ecr/sklearn:1.2-1") == "sklearn"
    assert utils.base_name_from_image(None, "default") == "default"
    assert len(utils.unique_name_from_base("y" * 80)) == 63
