"""The runner channel: a job's runner and the control plane meet only there (spec in; state, logs,
metrics out; the stop request in), so a channel on an object store works with no shared disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
from conftest import wait_for, write_script

import mlyard
from mlyard.client import default_client
from mlyard.estimator import Estimator
from mlyard.runtime.hosts import ExitWatch
from mlyard.runtime.runner_channel import ChannelWatch, RunnerChannel

TRAIN = """
import os, sys, time
for epoch in range(3):
    print(f"epoch {epoch} loss={1.0 / (epoch + 1):.3f}", flush=True)
print("to stderr", file=sys.stderr, flush=True)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("weights")
"""


def test_a_channel_round_trips_on_a_folder_and_appends_in_place(tmp_path: Path) -> None:
    channel = RunnerChannel(f"file://{tmp_path / 'job'}")
    assert channel.local == tmp_path / "job" and channel.uri == f"file://{tmp_path / 'job'}"
    channel.create()
    assert channel.read_state() is None and channel.signature("state.json") is None
    channel.write_spec({"job_name": "j"})
    assert channel.read_spec() == {"job_name": "j"}
    channel.write_state({"status": "InProgress"})
    first = channel.signature("state.json")
    channel.write_state({"status": "Completed", "more": "x"})
    assert channel.read_state() == {"status": "Completed", "more": "x"} and channel.signature("state.json") != first
    out = channel.appender("logs/algo-1.log")
    out.write(b"one\n")
    assert channel.read("logs/algo-1.log", 0, 100) == b"one\n"  # on a folder, at once
    out.write(b"two\n")
    out.close()
    assert channel.read("logs/algo-1.log", 4, 100) == b"two\n"
    assert not channel.stop_requested()
    channel.request_stop()
    assert channel.stop_requested()


def test_a_channel_on_an_object_store_holds_appends_until_flushed(moto: str) -> None:
    channel = RunnerChannel(f"s3://{moto}/runs/j")
    assert channel.local is None
    out = channel.appender("metrics.jsonl", flush_seconds=3600)
    out.write(b"a\n")  # the first write flushes (nothing was written for an hour)
    out.write(b"b\n")  # held
    assert channel.read("metrics.jsonl", 0, 100) == b"a\n"
    out.close()
    assert channel.read("metrics.jsonl", 0, 100) == b"a\nb\n"
    again = channel.appender("metrics.jsonl")  # a restarted runner appends to what is there
    again.write(b"c\n")
    again.close()
    assert channel.read("metrics.jsonl", 2, 100) == b"b\nc\n"
    assert channel.read("metrics.jsonl", 6, 100) == b""  # from the end on: nothing yet, no error
    with pytest.raises(FileNotFoundError, match="no spec.json"):
        channel.read_spec()


def test_jobs_whose_channels_are_on_an_object_store_run_report_and_stop(
        moto: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No disk shared with the runner: spec, state, logs and metrics travel through S3, the runner
    works in a folder of its own machine's temporary space, and a stop reaches it there."""
    import boto3

    monkeypatch.setenv("MLYARD_RUNS", f"s3://{moto}/runs")
    write_script(tmp_path, "train.py", TRAIN)
    est = Estimator(entry_point=str(tmp_path / "train.py"), role="r", instance_type="local",
                    metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
                    sagemaker_session=mlyard.Session())
    est.fit(logs=False)
    job = est.latest_training_job
    desc = job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["JobDirectory"] == f"s3://{moto}/runs/{job.name}"
    assert [m["Value"] for m in desc["FinalMetricDataList"]] == [pytest.approx(0.333)]
    logs = b"".join(default_client().job_logs(job.name)).decode()
    assert "epoch 2 loss=0.333" in logs and "to stderr" in logs
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=moto, Prefix=f"runs/{job.name}/")["Contents"]}
    assert {f"runs/{job.name}/{n}" for n in ("spec.json", "state.json", "metrics.jsonl", "logs/algo-1.log")} <= keys
    state = json.loads(boto3.client("s3").get_object(Bucket=moto, Key=f"runs/{job.name}/state.json")["Body"].read())
    assert state["status"] == "Completed"
    assert not (home / "jobs" / job.name).exists()  # nothing of the job on the control plane's disk

    write_script(tmp_path, "sleep.py", "import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    long = Estimator(entry_point=str(tmp_path / "sleep.py"), role="r", instance_type="local",
                     sagemaker_session=mlyard.Session())
    long.fit(wait=False)
    running = long.latest_training_job
    wait_for(lambda: running.describe()["SecondaryStatus"] == "Training", timeout=60)
    running.stop()
    desc = running.wait(logs=False)
    assert (desc["TrainingJobStatus"], desc["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert any(t["StatusMessage"] == "The job was stopped" for t in desc["SecondaryStatusTransitions"])


TWO_HOSTS = """
import json, os, sys
host = os.environ["SM_CURRENT_HOST"]
print(f"{host} loss={0.5 if host == 'algo-1' else 0.25}", flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], host + ".json"), "w") as fh:
    json.dump({"master": os.environ["MASTER_ADDR"], "hosts": json.loads(os.environ["SM_HOSTS"]),
               "tf": json.loads(os.environ["TF_CONFIG"])}, fh)
if host == "algo-2" and os.environ.get("FAIL_ON_2"):
    raise SystemExit("algo-2 cannot go on")
"""


def _spec_of_a_two_host_job(tmp_path: Path, home: Path) -> dict:
    """The spec the control plane writes for a 2-host job (taken from one that ran here)."""
    write_script(tmp_path, "two.py", TWO_HOSTS)
    est = Estimator(entry_point=str(tmp_path / "two.py"), role="r", instance_type="local", instance_count=2,
                    metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
                    sagemaker_session=mlyard.Session())
    est.fit(logs=False)
    assert est.latest_training_job.describe()["TrainingJobStatus"] == "Completed"
    return dict(json.loads((home / "jobs" / est.latest_training_job.name / "spec.json").read_text()))


def _inotify_and_pidfds() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    watch = ChannelWatch()
    available = watch.available
    watch.close()
    return available


needs_waits = pytest.mark.skipif(not _inotify_and_pidfds(), reason="needs Linux's pidfds and inotify")


@needs_waits
def test_an_exit_watch_wakes_at_an_exit_and_at_a_write_in_a_watched_folder(tmp_path: Path) -> None:
    """What the runner waits on while its hosts run: a local host's exit (its pidfd) and an agent's
    write in a remote host's folder (inotify) each wake it long before its timeout; a write
    elsewhere in the channel (a log) does not."""
    channel = RunnerChannel(tmp_path)
    channel.create()
    channel.put("hosts/algo-2/layout.tar.gz", b"")
    watch = ChannelWatch()
    assert watch.available and watch.watch({tmp_path / "hosts" / "algo-2"})
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    exits = ExitWatch([host.pid], watch)
    try:
        start = time.monotonic()
        assert exits.wait(60) is False  # the exit woke it, not a write
        assert host.wait(timeout=5) == 0 and time.monotonic() - start < 30
        threading.Timer(0.3, channel.put, ("logs/algo-2.log", b"a line\n")).start()
        assert exits.wait(1.0) is False  # only the timeout ended this wait
        threading.Timer(0.3, channel.put, ("hosts/algo-2/exit.json", b'{"code": 0}')).start()
        start = time.monotonic()
        assert exits.wait(60) is True
        assert time.monotonic() - start < 30
        time.sleep(0.2)
        exits.wait(0)  # the rest of that write (a file put whole is written, then renamed)
        assert exits.wait(0.05) is False  # what was read does not wake a wait again
    finally:
        exits.close()
        watch.close()


@needs_waits
def test_a_watched_remote_host_is_read_when_its_folder_is_written_or_it_was_signalled(tmp_path: Path) -> None:
    """A watched remote host is read every 250 ms at most, unless told a write happened
    (``look_now``, the runner's inotify wake-up), or once it was signalled (its end is awaited)."""
    from mlyard.runtime.hosts import MetricSink
    from mlyard.runtime.metrics import MetricParser
    from mlyard.runtime.remote import RemoteHost

    channel = RunnerChannel(tmp_path / "channel")
    channel.create()
    work = tmp_path / "work"
    (work / "hosts" / "algo-2").mkdir(parents=True)
    (work / "hosts" / "algo-3").mkdir(parents=True)
    sink = MetricSink(channel.appender("metrics.jsonl"))
    host = RemoteHost(channel, "algo-2", ["true"], {}, None, False, work / "hosts" / "algo-2", work,
                      MetricParser([]), sink)
    host.watched = True
    assert host.poll() is None  # its first look
    channel.put("hosts/algo-2/exit.json", json.dumps({"code": 3, "stderr_tail": ""}).encode())
    assert host.poll() is None  # not looked at again yet
    host.look_now()
    assert host.poll() == 3
    other = RemoteHost(channel, "algo-3", ["true"], {}, None, False, work / "hosts" / "algo-3", work,
                       MetricParser([]), sink)
    other.watched = True
    assert other.poll() is None
    other.signal(15)
    assert not other.watched and json.loads(channel.get("hosts/algo-3/signal") or b"{}")["signal"] == 15
    channel.put("hosts/algo-3/exit.json", json.dumps({"code": 143, "stderr_tail": ""}).encode())
    start = time.monotonic()
    other.wait(60)
    assert other.poll() == 143 and time.monotonic() - start < 0.2
    sink.close()


@needs_waits
def test_a_host_process_wait_returns_when_the_host_exits(tmp_path: Path) -> None:
    from mlyard.runtime.hosts import HostProcess
    from mlyard.runtime.metrics import MetricParser

    channel = RunnerChannel(tmp_path)
    channel.create()
    host = HostProcess("algo-1", [sys.executable, "-c", "import time; time.sleep(0.3)"], dict(os.environ), None,
                       channel.appender("logs/algo-1.log"), MetricParser([]), None, False)
    start = time.monotonic()
    host.wait(60)
    assert host.poll() == 0 and time.monotonic() - start < 30
    host.end()
    host.finish()
    host.wait(60)  # after the end: at once
    assert time.monotonic() - start < 30
    for pipe in (host.proc.stdout, host.proc.stderr):
        assert pipe is not None
        pipe.close()


@pytest.mark.parametrize("fail", [False, True])
@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2"])
def test_a_host_placed_on_another_machine_runs_through_an_agent(home: Path, tmp_path: Path, fail: bool,
                                                                address: str) -> None:
    """The executor placed algo-2 elsewhere (placement.json): the runner hands its files and command
    to the agent through the channel and supervises it like a local host: its log and metrics
    arrive, its model files are in the job's model, and its failure is the job's. At the runner's
    own address the agent shares its machine, and the runner watches the host's folder for the
    agent's writes; at another, it polls the folder (a shared file system's writes from other
    machines are not seen by inotify)."""
    spec = _spec_of_a_two_host_job(tmp_path, home)
    out = tmp_path / "out"
    spec["model_artifacts_uri"] = f"file://{out}/model.tar.gz"
    spec["output_artifacts_uri"] = f"file://{out}/output.tar.gz"
    if fail:
        spec["request"]["Environment"] = {**(spec["request"].get("Environment") or {}), "FAIL_ON_2": "1"}
    channel = RunnerChannel(tmp_path / "channel")
    channel.create()
    channel.write_spec(spec)
    channel.put("placement.json", json.dumps({"hosts": {"algo-1": {"address": "127.0.0.1"},
                                                        "algo-2": {"address": address, "remote": True}}}).encode())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLYARD_")}
    agent = subprocess.Popen([sys.executable, "-m", "mlyard.runtime.remote", channel.uri, "algo-2",
                              str(tmp_path / "agent-work")], env=env)
    runner = subprocess.run([sys.executable, "-m", "mlyard.runtime.runner", channel.uri, str(tmp_path / "work")],
                            env=env, timeout=120, capture_output=True)
    assert agent.wait(timeout=60) == 0
    if _inotify_and_pidfds():  # the agent shares the runner's address, so its writes are watched, not polled
        assert (b"watching algo-2 through inotify" in runner.stdout) == (address == "127.0.0.1"), runner.stdout
    state = channel.read_state()
    assert state is not None, runner.stderr.decode()
    assert b"algo-2 loss=0.25\n" in channel.read("logs/algo-2.log", 0, 10000)  # stdout and stderr interleave
    points = [json.loads(line) for line in channel.read("metrics.jsonl", 0, 10000).splitlines()]
    assert {(p["host"], p["value"]) for p in points} == {("algo-1", 0.5), ("algo-2", 0.25)}
    if fail:
        assert state["status"] == "Failed"
        assert state["failure_reason"].startswith("algo-2: AlgorithmError")
        assert "algo-2 cannot go on" in state["failure_reason"]
        return
    assert state["status"] == "Completed", state.get("failure_reason")
    with tarfile.open(out / "model.tar.gz") as tar:
        files = {m.name: json.load(tar.extractfile(m)) for m in tar.getmembers() if m.isfile()}  # type: ignore[arg-type]
    assert set(files) == {"algo-1.json", "algo-2.json"}  # the agent's host's model came back
    seen = files["algo-2.json"]
    assert seen["master"] == "127.0.0.1" and seen["hosts"] == ["algo-1", "algo-2"]
    assert [w.split(":")[0] for w in seen["tf"]["cluster"]["worker"]] == ["127.0.0.1", address]
    assert seen["tf"]["task"]["index"] == 1
    # The agent ran in its own folder (the runner's paths rewritten to it); what it wrote came back.
    assert (tmp_path / "agent-work" / "hosts" / "algo-2" / "model" / "algo-2.json").is_file()
    assert (tmp_path / "work" / "hosts" / "algo-2" / "model" / "algo-2.json").is_file()
    assert not (tmp_path / "agent-work" / "hosts" / "algo-1").exists()
