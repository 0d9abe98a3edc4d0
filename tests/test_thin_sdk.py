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
from mlyard.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
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
    assert uri.endswith(f"/inputs/trees/{tree_tar(a, tmp_path / 'c.tar')}")
    assert uri.startswith(f"s3://{mlyard.Session().default_bucket()}/inputs/")
    stored = Path(str(client.health()["store"])[len("file://"):]) / uri.split("/", 3)[3]
    assert sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*")) == ["a.csv", "sub", "sub/b.csv"]
    file_uri = upload_local(client, str(a / "a.csv"), "input")
    assert file_uri.endswith("/a.csv") and "/inputs/files/" in file_uri
    with pytest.raises(mlyard.errors.ValidationError, match="immutable"):
        client.upload("inputs/x/a.csv", b"no")


def test_a_file_and_a_folder_of_one_hash_are_never_confused(home: Path, tmp_path: Path) -> None:
    """Files and folders are stored apart: a file's folder is never found as a folder input, and
    a file whose bytes are a folder's tar (so of the same SHA-256) adds nothing to that folder."""
    from mlyard.client.uploads import sha256_file, tree_tar

    client = mlyard.Session().client
    store_root = Path(str(client.health()["store"])[len("file://"):])
    lone = tmp_path / "lone.csv"
    lone.write_text("x\n")
    sha = sha256_file(lone)
    assert client.upload_input(lone).endswith(f"/inputs/files/{sha}/lone.csv")
    assert client.find_input(sha, "lone.csv") is not None
    assert client.find_input(sha) is None  # the file's folder is no folder input

    tar = tmp_path / "t.tar"
    tree_sha = tree_tar(_data(tmp_path / "tree"), tar)
    tree_uri = client.upload_input_tree(tar)
    assert tree_uri.endswith(f"/inputs/trees/{tree_sha}")
    assert client.find_input(tree_sha, "a.csv") is None  # a folder's file is no file input
    (tmp_path / "extra.csv").write_bytes(tar.read_bytes())  # a file of the tar's very bytes
    file_uri = client.upload_input(tmp_path / "extra.csv")
    assert file_uri.endswith(f"/inputs/files/{tree_sha}/extra.csv")
    stored = store_root / tree_uri.split("/", 3)[3]
    assert sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*")) == ["a.csv", "sub", "sub/b.csv"]
    assert client.find_input(tree_sha) == tree_uri and client.find_input(tree_sha, "extra.csv") == file_uri
    for params in ({"kind": "file"}, {"kind": "tree", "filename": "a.csv"}, {"kind": "dir"}):
        with pytest.raises(mlyard.errors.ValidationError):
            client.request("GET", f"/v1/inputs/{tree_sha}", params=params)


def test_stored_inputs_cannot_be_overwritten_or_deleted(session: mlyard.Session, home: Path, tmp_path: Path) -> None:
    """Nothing writes under the store's inputs/: not /v1/store, not /v1/objects, not a job's
    output, whatever the URI's form."""
    from mlyard.client.uploads import upload_local

    client = session.client
    uri = upload_local(client, str(_data(tmp_path / "d")), "input")  # s3://<default>/inputs/trees/<sha>
    file_uri = upload_local(client, str(tmp_path / "d" / "a.csv"), "input")
    store_root = str(client.health()["store"])
    key = uri.split("/", 3)[3]
    stored = Path(store_root[len("file://"):]) / key
    for k in (f"{key}/a.csv", "inputs/files/x/a.csv"):
        with pytest.raises(mlyard.errors.ValidationError, match="immutable"):
            client.upload(k, b"no")
    for target in (f"{uri}/a.csv", file_uri, f"{uri}/new.csv", f"s3://{session.default_bucket()}/inputs/x"):
        with pytest.raises(mlyard.errors.ValidationError, match="inputs/ folder holds the inputs"):
            client.upload_uri(target, b"no")
    (tmp_path / "p.py").write_text("print('x')\n")
    proc = ScriptProcessor(command=["python3"], role="r", instance_count=1, instance_type="local",
                           sagemaker_session=session)
    for dest in (uri, f"{store_root}/{key}", f"{store_root}/inputs/trees/../trees/{key.rsplit('/', 1)[1]}",
                 f"s3://{session.default_bucket()}/inputs"):
        with pytest.raises(mlyard.errors.ValidationError, match=r"output 'out'.*inputs/ folder holds the inputs"):
            proc.run(code=str(tmp_path / "p.py"), outputs=[ProcessingOutput(
                source="/opt/ml/processing/out", destination=dest, output_name="out")], logs=False)
    est = Estimator(entry_point=str(tmp_path / "p.py"), role="r", instance_type="local", output_path=uri,
                    sagemaker_session=session)
    with pytest.raises(mlyard.errors.ValidationError, match=r"S3OutputPath.*inputs/ folder holds the inputs"):
        est.fit(logs=False)
    assert sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*")) == ["a.csv", "sub", "sub/b.csv"]
    assert (stored / "a.csv").read_text() == "a\n"


@pytest.mark.parametrize("where", ["channel", "output", "model", "objects", "local_path"])
def test_a_control_character_in_a_uri_is_a_400_naming_it(session: mlyard.Session, tmp_path: Path,
                                                          where: str) -> None:
    client = session.client
    bad = f"file://{tmp_path}/da\x00ta"
    with pytest.raises(mlyard.errors.ValidationError, match="control character") as info:
        if where == "channel":
            client.create_training_job({"ResourceConfig": {"InstanceType": "local"}, "InputDataConfig": [
                {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": bad}}}]})
        elif where == "output":
            client.create_training_job({"ResourceConfig": {"InstanceType": "local"},
                                        "OutputDataConfig": {"S3OutputPath": bad}})
        elif where == "model":
            client.create_model({"ModelName": "m", "PrimaryContainer": {"Image": "x", "ModelDataUrl": bad},
                                 "MlyardConfig": {}})
        elif where == "objects":
            client.upload_uri(f"s3://{session.default_bucket()}/a\x00b", b"x")
        else:
            (tmp_path / "p.py").write_text("print('x')\n")
            ScriptProcessor(command=["python3"], role="r", instance_count=1, instance_type="local",
                            sagemaker_session=session).run(code=str(tmp_path / "p.py"), outputs=[ProcessingOutput(
                                source="/opt/ml/processing/o\x00ut", destination=f"file://{tmp_path}/o",
                                output_name="out")], logs=False)
    message = str(info.value)
    assert {"channel": "channel 'train'", "output": "S3OutputPath", "model": "ModelDataUrl", "objects": "uri",
            "local_path": "output 'out'"}[where] in message


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


def test_links_inside_an_input_folder_are_sent_as_their_files(home: Path, tmp_path: Path) -> None:
    from mlyard.client.uploads import tree_tar, upload_local

    client = mlyard.Session().client
    a = _data(tmp_path / "a")
    (a / "link.csv").symlink_to(a / "a.csv")
    uri = upload_local(client, str(a), "input")
    stored = Path(str(client.health()["store"])[len("file://"):]) / uri.split("/", 3)[3]
    assert (stored / "link.csv").is_file() and not (stored / "link.csv").is_symlink()
    assert (stored / "link.csv").read_bytes() == (a / "a.csv").read_bytes()
    outside = tmp_path / "outside.csv"
    outside.write_text("secret")
    (a / "out.csv").symlink_to(outside)
    with pytest.raises(mlyard.errors.ValidationError, match="is a link out of the folder"):
        tree_tar(a, tmp_path / "t.tar")
    (a / "out.csv").unlink()
    (a / "dir-link").symlink_to(a / "sub")
    with pytest.raises(mlyard.errors.ValidationError, match="a link to a folder"):
        tree_tar(a, tmp_path / "t.tar")
