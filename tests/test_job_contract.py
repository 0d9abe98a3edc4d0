"""The job contract, one battery over every backend: ``local`` (the local executor), ``sandbox``
(the local executor, jobs with ``sandbox=True``) and ``ray`` (``MLYARD_EXECUTOR=ray`` on conftest's
real Ray cluster). Every test reads what a job did as a user would: ``describe()``, logs through
the client, artifacts and outputs through the store API, metrics and analytics; never the job's
folders under ``$MLYARD_HOME``.

Where a backend legitimately differs the expectation says so (``Backend``): without bubblewrap a
job sees its real folders instead of ``/opt/ml``; a sandboxed job inherits only a neutral part of
the server's environment. A backend that cannot run here is skipped naming what to install (CI
turns those skips into failures: MLYARD_REQUIRE_BWRAP=1, MLYARD_REQUIRE_RAY=1)."""

from __future__ import annotations

import json
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    LEAVE_CHILD_AND_DAEMON,
    RAY_INSTALL_HINT,
    bwrap_usable,
    marked_processes,
    wait_for,
    write_local_package,
    write_script,
)

import mlyard
from mlyard import TrainingInput
from mlyard.errors import UnexpectedStatusException
from mlyard.estimator import Estimator
from mlyard.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from mlyard.s3 import S3Downloader
from mlyard.sklearn import SKLearn

GRACE = 3  # MLYARD_STOP_GRACE_SECONDS in tests (conftest's home fixture)
OUTER = "MLYARD_BATTERY_OUTER"  # set in the server's environment: does a job inherit it?


@dataclass
class Backend:
    name: str
    session: Any
    sandbox: bool
    opt_ml: bool  # the job's folder is mounted at /opt/ml (bubblewrap); else it sees the real paths
    tmp: Path

    def estimator(self, **kwargs: Any) -> Estimator:
        kwargs.setdefault("instance_type", "local")
        return Estimator(role="r", sagemaker_session=self.session, sandbox=self.sandbox, **kwargs)

    def processor(self, **kwargs: Any) -> ScriptProcessor:
        return ScriptProcessor(command=["python3"], role="r", instance_type="local", sagemaker_session=self.session,
                               sandbox=self.sandbox, **kwargs)

    def logs(self, job: str) -> str:
        return b"".join(self.session.client.job_logs(job)).decode()

    def files_of(self, tar_uri: str) -> dict[str, bytes]:
        """The files of a model.tar.gz or output.tar.gz, read through the store API."""
        dest = self.tmp / f"{uuid.uuid4().hex}.tar.gz"
        self.session.client.download(tar_uri, dest)
        with tarfile.open(dest) as tar:
            return {m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
                    for m in tar.getmembers() if m.isfile()}

    def uri(self, prefix: str) -> str:
        return f"s3://{self.session.default_bucket()}/{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", params=["local", "sandbox", "ray"])
def backend_name(request: pytest.FixtureRequest) -> str:
    """Module-scoped, so the tests run grouped by backend and the Ray cluster is up only for Ray's."""
    if request.param == "sandbox":
        from mlyard.compute.sandbox import sandbox_problem

        if not bwrap_usable():
            pytest.skip("the sandbox backend needs bubblewrap: apt-get install bubblewrap (and user namespaces)")
        if problem := sandbox_problem():
            pytest.skip(f"the sandbox cannot run here: {problem}")
    if request.param == "ray":
        pytest.importorskip("ray", reason=RAY_INSTALL_HINT)
    return str(request.param)


@pytest.fixture
def backend(backend_name: str, request: pytest.FixtureRequest, home: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    monkeypatch.setenv(OUTER, "outer")  # before the server starts: it inherits it
    if backend_name == "ray":
        session = request.getfixturevalue("ray_session")
        assert session.client.health()["executor"]["name"] == "ray"
    else:
        session = mlyard.Session()
    (tmp_path / "backend").mkdir()
    yield Backend(backend_name, session, backend_name == "sandbox", bwrap_usable(), tmp_path / "backend")


def _completed(desc: dict[str, Any]) -> None:
    status = desc.get("TrainingJobStatus") or desc.get("ProcessingJobStatus")
    assert status == "Completed", desc.get("FailureReason")


# -- /opt/ml -----------------------------------------------------------------------------------

LAYOUT = """
    import json, os
    root = os.path.dirname(os.environ["SM_MODEL_DIR"])
    def tree(top):
        return sorted(os.path.relpath(os.path.join(d, f), top) for d, _, fs in os.walk(top) for f in fs)
    config = {n: json.load(open(os.path.join(root, "input/config", n))) for n in sorted(os.listdir(
        os.path.join(root, "input/config")))}
    out = {"root": root, "cwd": os.getcwd(), "data": tree(os.path.join(root, "input/data")), "config": config,
           "code": sorted(os.listdir(os.path.join(root, "code"))),
           "dirs": {d: os.path.isdir(os.path.join(root, d)) for d in ("model", "output", "output/data")},
           "opt_ml": sorted(os.listdir("/opt/ml")) if os.path.isdir("/opt/ml") else None}
    with open(os.path.join(root, "model", "layout.json"), "w") as fh:
        json.dump(out, fh)
    with open(os.path.join(root, "output", "data", "extra.txt"), "w") as fh:
        fh.write("data")
"""


def test_the_opt_ml_layout(backend: Backend, data_dir: Path) -> None:
    write_script(backend.tmp / "src", "train.py", LAYOUT)
    est = backend.estimator(entry_point="train.py", source_dir=str(backend.tmp / "src"), hyperparameters={"k": 1})
    est.fit({"training": f"file://{data_dir}"}, logs=False)
    desc = est.latest_training_job.describe()
    _completed(desc)
    assert desc["MlyardConfig"]["Sandbox"] is backend.sandbox
    seen = json.loads(backend.files_of(desc["ModelArtifacts"]["S3ModelArtifacts"])["layout.json"])
    if backend.opt_ml:
        assert seen["root"] == "/opt/ml" and seen["cwd"] == "/opt/ml/code"
        assert {"code", "input", "model", "output"} <= set(seen["opt_ml"])
        assert not Path("/opt/ml/model/layout.json").exists()  # this machine's /opt is untouched
    else:  # no bubblewrap: the job's own folders, named by the SM_* variables
        assert seen["root"] != "/opt/ml" and seen["opt_ml"] is None
    assert seen["data"] == ["training/a.csv", "training/b.csv"]
    assert sorted(seen["config"]) == ["hyperparameters.json", "inputdataconfig.json", "resourceconfig.json"]
    assert json.loads(seen["config"]["hyperparameters.json"]["k"]) == 1
    assert seen["config"]["resourceconfig.json"]["current_host"] == "algo-1"
    assert seen["config"]["resourceconfig.json"]["hosts"] == ["algo-1"]
    assert list(seen["config"]["inputdataconfig.json"]) == ["training"]
    assert seen["code"] == ["train.py"]
    assert all(seen["dirs"].values()), seen["dirs"]
    assert backend.files_of(desc["OutputArtifacts"]["S3OutputArtifacts"]) == {"extra.txt": b"data"}


# -- the environment and the command line ------------------------------------------------------

ENVIRONMENT = f"""
    import json, os, sys
    env = {{k: v for k, v in os.environ.items() if k.startswith("SM_")}}
    out = {{"argv": sys.argv[1:], "env": env, "my_var": os.environ.get("MY_VAR"),
           "outer": os.environ.get("{OUTER}"), "token": "MLYARD_TOKEN" in os.environ}}
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "contract.json"), "w") as fh:
        json.dump(out, fh)
"""


def test_sm_variables_and_hyperparameters_as_arguments(backend: Backend, data_dir: Path) -> None:
    write_script(backend.tmp / "src", "train.py", ENVIRONMENT)
    est = SKLearn(entry_point="train.py", source_dir=str(backend.tmp / "src"), framework_version="1.5", role="r",
                  instance_type="local", hyperparameters={"alpha": 0.5, "name": "x", "b": True, "d": {"k": 1}},
                  environment={"MY_VAR": "yes"}, sagemaker_session=backend.session, sandbox=backend.sandbox)
    est.fit({"training": f"file://{data_dir}"}, logs=False)
    desc = est.latest_training_job.describe()
    _completed(desc)
    contract = json.loads(backend.files_of(desc["ModelArtifacts"]["S3ModelArtifacts"])["contract.json"])
    assert contract["argv"] == ["--alpha", "0.5", "-b", "True", "-d", "k=1", "--name", "x"]
    env = contract["env"]
    assert json.loads(env["SM_HPS"]) == {"alpha": 0.5, "b": True, "d": {"k": 1}, "name": "x"}
    assert env["SM_HP_ALPHA"] == "0.5" and env["SM_HP_NAME"] == "x"
    assert env["SM_CHANNELS"] == '["training"]'
    root = "/opt/ml" if backend.opt_ml else env["SM_MODEL_DIR"].rsplit("/", 1)[0]
    assert env["SM_MODEL_DIR"] == f"{root}/model" and env["SM_CHANNEL_TRAINING"] == f"{root}/input/data/training"
    assert env["SM_OUTPUT_DATA_DIR"] == f"{root}/output/data"
    assert env["SM_HOSTS"] == '["algo-1"]' and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    assert env["SM_NUM_CPUS"] == "1" and env["SM_NUM_GPUS"] == "0"
    assert json.loads(env["SM_TRAINING_ENV"])["job_name"] == desc["TrainingJobName"]
    assert contract["my_var"] == "yes" and contract["token"] is False
    # A sandboxed job inherits only a neutral part of the server's environment.
    assert contract["outer"] == (None if backend.sandbox else "outer")


# -- failures and ends -------------------------------------------------------------------------

def test_a_failing_script_reports_its_own_error(backend: Backend) -> None:
    write_script(backend.tmp, "boom.py", """
        print("starting")
        raise ValueError("the data has no column named price")
    """)
    est = backend.estimator(entry_point=str(backend.tmp / "boom.py"))
    with pytest.raises(UnexpectedStatusException) as info:
        est.fit(logs=False)
    desc = est.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError"), reason
    assert "ValueError: the data has no column named price" in reason and "ExitCode 1" in reason
    assert "the data has no column named price" in str(info.value)


def test_max_run_stops_the_job(backend: Backend) -> None:
    write_script(backend.tmp, "slow.py", """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # forces the SIGKILL path
        print("sleeping", flush=True)
        time.sleep(600)
    """)
    est = backend.estimator(entry_point=str(backend.tmp / "slow.py"), max_run=1)
    t0 = time.monotonic()
    with pytest.warns(UserWarning, match="max_run"):
        est.fit(logs=False)
    assert time.monotonic() - t0 < 1 + GRACE + 20
    desc = est.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Stopped"
    assert desc["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "max_run of 1 seconds" in desc["FailureReason"]


# The entry point leaves a child (its process group) and a double-forked daemon (a session of
# its own) behind, and saves its model on SIGTERM.
GRACEFUL = """
    import os, signal, subprocess, sys, time
    mark = sys.argv[sys.argv.index("--mark") + 1]
""" + LEAVE_CHILD_AND_DAEMON + """
    def save(*_):
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "last.txt"), "w") as fh:
            fh.write("saved on SIGTERM")
        sys.exit(0)
    signal.signal(signal.SIGTERM, save)
    print("ready", flush=True)
    time.sleep(600)
"""


def test_a_stop_ends_the_job_within_the_grace_period_and_keeps_its_model(backend: Backend) -> None:
    mark = f"leftover-{uuid.uuid4().hex[:8]}"
    write_script(backend.tmp, "graceful.py", GRACEFUL)
    est = backend.estimator(entry_point=str(backend.tmp / "graceful.py"), hyperparameters={"mark": mark})
    est.fit(wait=False)
    job = est.latest_training_job
    wait_for(lambda: "ready" in backend.logs(job.name), timeout=60)  # its handler is set
    wait_for(lambda: marked_processes(f"{mark}-child") and marked_processes(f"{mark}-daemon"), timeout=30)
    t0 = time.monotonic()
    job.stop()
    desc = job.wait(logs=False)
    assert time.monotonic() - t0 < GRACE + 9  # the grace period and little more
    assert desc["TrainingJobStatus"] == "Stopped"
    assert backend.files_of(desc["ModelArtifacts"]["S3ModelArtifacts"]) == {"last.txt": b"saved on SIGTERM"}
    wait_for(lambda: not marked_processes(mark), timeout=5)  # nothing the script started outlives the job


# -- checkpoints -------------------------------------------------------------------------------

def test_checkpoints_are_restored_at_start_and_uploaded(backend: Backend) -> None:
    write_script(backend.tmp, "ckpt.py", """
        import os
        d = os.environ.get("CKPT_DIR", "/opt/ml/checkpoints")
        prev = sorted(os.listdir(d))
        print("restored", prev, flush=True)
        with open(os.path.join(d, f"epoch-{len(prev)}.ckpt"), "w") as fh:
            fh.write(str(len(prev)))
    """)
    uri = backend.uri("checkpoints")
    for run in (0, 1):
        kwargs: dict[str, Any] = {}
        if not backend.opt_ml:  # no /opt/ml/checkpoints: a folder of this machine, a new one each run
            local = str(backend.tmp / f"ckpt-{run}")
            kwargs = {"checkpoint_local_path": local, "environment": {"CKPT_DIR": local}}
        est = backend.estimator(entry_point=str(backend.tmp / "ckpt.py"), checkpoint_s3_uri=uri, **kwargs)
        est.fit(logs=False)
        _completed(est.latest_training_job.describe())
        assert f"restored {[f'epoch-{i}.ckpt' for i in range(run)]}" in backend.logs(est.latest_training_job.name)
        uploaded = sorted(u.rsplit("/", 1)[1] for u in S3Downloader.list(uri, sagemaker_session=backend.session))
        assert uploaded == [f"epoch-{i}.ckpt" for i in range(run + 1)]


# -- several hosts -----------------------------------------------------------------------------

RENDEZVOUS = """
    import json, os, socket, time
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    host = os.environ["SM_CURRENT_HOST"]
    files = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
    # A minimal rendezvous, the way torch.distributed's TCP store does it: rank 0 listens.
    if rank == 0:
        srv = socket.create_server((addr, port))
        srv.settimeout(60)
        conn, _ = srv.accept()
        peer = conn.recv(100).decode()
    else:
        for _ in range(200):
            try:
                conn = socket.create_connection((addr, port), timeout=5)
                break
            except OSError as exc:
                error = exc
                time.sleep(0.05)
        else:
            raise SystemExit(f"{host} cannot reach MASTER_ADDR:MASTER_PORT {addr}:{port}: {error!r}")
        conn.sendall(host.encode())
        peer = "rank0"
    try:  # a listener of the test's, on this machine's own loopback: outside a sandboxed job
        socket.create_connection(("127.0.0.1", int(os.environ["OUTSIDE_PORT"])), timeout=2).close()
        outside = True
    except OSError:
        outside = False
    out = {"host": host, "hosts": json.loads(os.environ["SM_HOSTS"]), "rank": rank, "world": world,
           "peer": peer, "files": files, "tf_config": json.loads(os.environ["TF_CONFIG"]), "outside": outside}
    with open(os.path.join(os.environ["SM_MODEL_DIR"], f"{host}.json"), "w") as fh:
        json.dump(out, fh)
"""

def test_two_hosts_rendezvous_at_master_addr_and_shard_their_channel(backend: Backend) -> None:
    # Sandboxed, the two hosts share one network namespace with only loopback in it.
    import socket

    outside = socket.create_server(("127.0.0.1", 0))
    data = backend.tmp / "data"
    data.mkdir()
    for i in range(6):
        (data / f"part-{i}.txt").write_text(str(i))
    write_script(backend.tmp / "src", "dist.py", RENDEZVOUS)
    est = backend.estimator(entry_point="dist.py", source_dir=str(backend.tmp / "src"), instance_count=2,
                            max_run=120, environment={"OUTSIDE_PORT": str(outside.getsockname()[1])})
    with outside:
        est.fit({"train": TrainingInput(f"file://{data}", distribution="ShardedByS3Key")}, logs=False)
    desc = est.latest_training_job.describe()
    _completed(desc)
    files = backend.files_of(desc["ModelArtifacts"]["S3ModelArtifacts"])
    one, two = json.loads(files["algo-1.json"]), json.loads(files["algo-2.json"])
    assert one["hosts"] == two["hosts"] == ["algo-1", "algo-2"]
    assert (one["host"], two["host"]) == ("algo-1", "algo-2") and (one["rank"], two["rank"]) == (0, 1)
    assert one["world"] == two["world"] == 2
    assert one["peer"] == "algo-2"  # algo-2 reached algo-1 at MASTER_ADDR:MASTER_PORT
    assert sorted(one["files"] + two["files"]) == [f"part-{i}.txt" for i in range(6)]
    assert not set(one["files"]) & set(two["files"])
    assert len(one["tf_config"]["cluster"]["worker"]) == 2
    assert two["tf_config"]["task"] == {"type": "worker", "index": 1}
    if backend.sandbox:  # the namespace the hosts share holds nothing else
        assert one["outside"] is two["outside"] is False
    else:  # (the probe itself works: every host here is on this machine)
        assert one["outside"] is two["outside"] is True


# -- requirements.txt --------------------------------------------------------------------------

def test_requirements_txt_is_installed(backend: Backend) -> None:
    src = backend.tmp / "src"
    pkg = write_local_package(backend.tmp / "localpkg", "mlyard-probe-pkg", "mlyard_probe_pkg", "VALUE = 42\n")
    write_script(src, "requirements.txt", f"{pkg}\n")
    write_script(src, "train.py", """
        import sys, mlyard_probe_pkg
        print("probe", mlyard_probe_pkg.VALUE, "prefix", sys.prefix)
    """)
    est = backend.estimator(entry_point="train.py", source_dir=str(src))
    est.fit(logs=False)
    _completed(est.latest_training_job.describe())
    log = backend.logs(est.latest_training_job.name)
    assert "probe 42 prefix " in log
    assert log.split("probe 42 prefix ")[1].split()[0] != sys.prefix  # a cached environment of its own
    import importlib.util

    assert importlib.util.find_spec("mlyard_probe_pkg") is None  # not in mlyard's own environment


# -- metrics -----------------------------------------------------------------------------------

def test_metric_definitions_reach_describe_and_analytics(backend: Backend) -> None:
    write_script(backend.tmp, "m.py", """
        for loss, acc in ((0.5, 0.6), (0.25, 0.8)):
            print(f"epoch - loss: {loss} - acc={acc}", flush=True)
    """)
    est = backend.estimator(entry_point=str(backend.tmp / "m.py"), metric_definitions=[
        {"Name": "loss", "Regex": "loss: ([0-9.]+)"}, {"Name": "acc", "Regex": "acc=([0-9.]+)"}])
    est.fit(logs=False)
    desc = est.latest_training_job.describe()
    _completed(desc)
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    assert final == {"loss": 0.25, "acc": 0.8}
    df = est.training_job_analytics.dataframe()
    assert list(df[df["metric_name"] == "loss"]["value"]) == [0.5, 0.25]
    assert list(df[df["metric_name"] == "acc"]["value"]) == [0.6, 0.8]


# -- processing --------------------------------------------------------------------------------

# Paths come as arguments: /opt/ml/... in a processing job's arguments follows the instance's real
# folder where there is no bubblewrap.
LISTER = """
    import json, os, sys
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    host = json.load(open(os.path.join(args["--config"], "resourceconfig.json")))["current_host"]
    config = json.load(open(os.path.join(args["--config"], "processingjobconfig.json")))
    seen = sorted(os.listdir(args["--input"]))
    os.makedirs(os.path.join(args["--output"], "nested", host))
    with open(os.path.join(args["--output"], "nested", host, "seen.json"), "w") as fh:
        json.dump({"seen": seen, "argv": sys.argv[1:], "job": config["ProcessingJobName"],
                   "count": config["ProcessingResources"]["ClusterConfig"]["InstanceCount"]}, fh)
    with open(os.path.join(args["--message"], "message"), "w") as fh:
        fh.write(f"{host} saw {len(seen)}")
"""


def test_processing_shards_inputs_over_two_instances_and_uploads_outputs(backend: Backend) -> None:
    data = backend.tmp / "raw"
    data.mkdir()
    for i in range(5):
        (data / f"part-{i:02d}.csv").write_text(f"{i}\n")
    write_script(backend.tmp, "lister.py", LISTER)
    out = backend.uri("processed")
    p = backend.processor(instance_count=2)
    p.run(code=str(backend.tmp / "lister.py"),
          inputs=[ProcessingInput(source=str(data), destination="/opt/ml/processing/input/data",
                                  s3_data_distribution_type="ShardedByS3Key")],
          outputs=[ProcessingOutput(source="/opt/ml/processing/out", destination=out)],
          arguments=["--config", "/opt/ml/config", "--input", "/opt/ml/processing/input/data",
                     "--output", "/opt/ml/processing/out", "--message", "/opt/ml/output"], logs=False)
    desc = p.latest_job.describe()
    _completed(desc)
    assert desc["MlyardConfig"]["Sandbox"] is backend.sandbox
    uris = S3Downloader.list(out, sagemaker_session=backend.session)
    assert sorted(u[len(out):] for u in uris) == ["/nested/algo-1/seen.json", "/nested/algo-2/seen.json"]
    results = [json.loads(S3Downloader.read_file(u, sagemaker_session=backend.session)) for u in uris]
    seen = [r["seen"] for r in results]
    assert sorted(sum(seen, [])) == [f"part-{i:02d}.csv" for i in range(5)]  # each object exactly once
    assert sorted(len(s) for s in seen) == [2, 3]
    assert all(r["count"] == 2 and r["job"] == desc["ProcessingJobName"] for r in results)
    paths = results[0]["argv"][1::2]
    assert all(path.startswith("/opt/ml/") == backend.opt_ml for path in paths), paths
    assert "algo-1 saw" in desc["ExitMessage"] and "algo-2 saw" in desc["ExitMessage"]
    assert desc["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == out
