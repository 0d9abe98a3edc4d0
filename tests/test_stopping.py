"""Every job can be stopped, and a job's processes end with it: children and daemons a script
starts, set-up that blocks, and a runner that does not answer."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import psutil
from conftest import LEAVE_CHILD_AND_DAEMON, marked_processes, wait_for, write_script

from mlyard.estimator import Estimator

# A script that leaves a child and a double-forked daemon (its own session, holding the log pipes)
# behind, then works for WORK seconds; MARK names the leftovers.
LEAVES_CHILDREN = """
    import os, subprocess, sys, time
    mark, work = sys.argv[sys.argv.index("--mark") + 1], float(sys.argv[sys.argv.index("--work") + 1])
""" + LEAVE_CHILD_AND_DAEMON + """
    print("started", flush=True)
    time.sleep(work)
    print("done", flush=True)
"""


def _both_started(mark: str) -> bool:
    return bool(marked_processes(f"{mark}-child")) and bool(marked_processes(f"{mark}-daemon"))


def _running_job(session, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A job that works for 300 s, once its child and daemon are running; and its mark."""
    est, mark = _estimator(tmp_path, 300, sagemaker_session=session)
    est.fit(wait=False)
    wait_for(lambda: _both_started(mark), timeout=60)
    return est.latest_training_job, mark


def _runner_pid(home: Path, job: str) -> int:
    return int(json.loads((home / "jobs" / job / "state.json").read_text())["runner_pid"])


def _estimator(tmp_path: Path, work: float, **kwargs: object) -> tuple[Estimator, str]:
    mark = f"leftover-{uuid.uuid4().hex[:8]}"
    write_script(tmp_path, "leaves.py", LEAVES_CHILDREN)
    est = Estimator(entry_point=str(tmp_path / "leaves.py"), instance_type="local", role="r",
                    hyperparameters={"mark": mark, "work": work}, **kwargs)  # type: ignore[arg-type]
    return est, mark


def test_children_and_daemons_end_with_the_job_without_a_tail(session, tmp_path: Path) -> None:
    est, mark = _estimator(tmp_path, 1.0, sagemaker_session=session)
    t0 = time.monotonic()
    est.fit(logs=False)
    took = time.monotonic() - t0
    assert est.latest_training_job.describe()["TrainingJobStatus"] == "Completed"
    assert took < 12, f"a 1 s job took {took:.1f} s"  # the leftover pipes once held it 20 s more
    assert not marked_processes(mark), "a process the script started outlived the job"


def test_a_killed_host_fails_the_job_at_once(session, tmp_path: Path, home: Path) -> None:
    job, mark = _running_job(session, tmp_path)
    runner_pid = _runner_pid(home, job.name)
    host = psutil.Process(runner_pid).children()[0]  # the host's top process (bwrap, or the script itself)
    t0 = time.monotonic()
    host.kill()
    wait_for(lambda: job.describe()["TrainingJobStatus"] == "Failed", timeout=30)
    assert time.monotonic() - t0 < 10
    assert "killed by signal 9" in job.describe()["FailureReason"] or "ExitCode 137" in job.describe()["FailureReason"]
    assert not marked_processes(mark)


SLOW_PACKAGE_SETUP = """
    import time
    from setuptools import setup
    print("building", flush=True)
    time.sleep(600)
    setup(name="slowpkg", version="0.1", py_modules=["train"])
"""


def _slow_setup(tmp_path: Path) -> Path:
    src = tmp_path / "pkg"
    write_script(src, "train.py", "print('never runs')\n")
    write_script(src, "setup.py", SLOW_PACKAGE_SETUP)
    return src


def test_a_stop_interrupts_set_up(session, tmp_path: Path) -> None:
    est = Estimator(entry_point="train.py", source_dir=str(_slow_setup(tmp_path)), instance_type="local", role="r",
                    sagemaker_session=session)
    est.fit(wait=False)
    job = est.latest_training_job
    wait_for(lambda: job.describe()["SecondaryStatus"] == "Downloading", timeout=60)
    wait_for(lambda: marked_processes("pip"), timeout=60)  # pip is building the package, and will for 600 s
    t0 = time.monotonic()
    job.stop()
    wait_for(lambda: job.describe()["TrainingJobStatus"] == "Stopped", timeout=30)
    assert time.monotonic() - t0 < 10  # pip goes on building for 600 s
    wait_for(lambda: not [p for p in marked_processes("pip") if "slowpkg" in " ".join(p.cmdline()) or str(tmp_path) in
                          " ".join(p.cmdline())], timeout=5)


def test_max_run_covers_download_and_set_up(session, tmp_path: Path) -> None:
    est = Estimator(entry_point="train.py", source_dir=str(_slow_setup(tmp_path)), instance_type="local", role="r",
                    sagemaker_session=session, max_run=4)
    t0 = time.monotonic()
    est.fit(wait=False)
    job = est.latest_training_job
    wait_for(lambda: job.describe()["TrainingJobStatus"] == "Stopped", timeout=60)
    assert time.monotonic() - t0 < 4 + 15  # the set-up alone takes 600 s
    desc = job.describe()
    assert desc["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert desc["FailureReason"].startswith("MaxRuntimeExceeded: downloading the job's inputs and setting it up")


def test_the_server_kills_a_runner_that_does_not_stop(session, tmp_path: Path, home: Path) -> None:
    job, mark = _running_job(session, tmp_path)
    runner_pid = _runner_pid(home, job.name)
    os.kill(runner_pid, signal.SIGSTOP)  # a runner that hangs: it will never act on the stop
    t0 = time.monotonic()
    job.stop()
    wait_for(lambda: job.describe()["TrainingJobStatus"] == "Stopped", timeout=60)
    took = time.monotonic() - t0
    assert 2 * 3 < took < 2 * 3 + 5 + 15  # twice the grace period plus the slack, then the kill
    events = [e["StatusMessage"] for e in job.describe()["SecondaryStatusTransitions"]]
    assert "The job did not stop within its grace period and was killed" in events, events
    assert not psutil.pid_exists(runner_pid) or psutil.Process(runner_pid).status() == psutil.STATUS_ZOMBIE
    assert not marked_processes(mark)
