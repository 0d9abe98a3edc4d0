"""The runner channel: a job's runner and the control plane meet only there (spec in; state, logs,
metrics out; the stop request in), so a channel on an object store works with no shared disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import wait_for, write_script

import mlyard
from mlyard.client import default_client
from mlyard.estimator import Estimator
from mlyard.runtime.runner_channel import RunnerChannel

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
