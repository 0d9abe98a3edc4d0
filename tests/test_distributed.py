"""instance_count > 1: N hosts as N processes that can find each other."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import write_script

from mlyard.errors import UnexpectedStatusException
from mlyard.estimator import Estimator


def test_one_failing_host_fails_the_job_and_stops_the_others(session, tmp_path: Path, home: Path) -> None:
    write_script(tmp_path, "dist.py", """
        import os, sys, time
        if os.environ["SM_CURRENT_HOST"] == "algo-2":
            time.sleep(0.5)
            raise RuntimeError("worker 2 ran out of data")
        print("waiting forever", flush=True)
        time.sleep(600)
    """)
    est = Estimator(entry_point=str(tmp_path / "dist.py"), instance_type="local", instance_count=2, role="r")
    started = time.monotonic()
    with pytest.raises(UnexpectedStatusException, match="worker 2 ran out of data"):
        est.fit(logs=False)
    assert time.monotonic() - started < 60
    reason = est.latest_training_job.describe()["FailureReason"]
    assert reason.startswith("algo-2: ")


def test_logs_of_several_hosts_are_prefixed(session, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_script(tmp_path, "hello.py", "import os\nprint('hello from', os.environ['SM_CURRENT_HOST'])\n")
    est = Estimator(entry_point=str(tmp_path / "hello.py"), instance_type="local", instance_count=2, role="r")
    est.fit()
    out = capsys.readouterr().out
    assert "algo-1 | hello from algo-1" in out
    assert "algo-2 | hello from algo-2" in out
