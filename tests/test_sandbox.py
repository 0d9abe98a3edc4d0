"""bubblewrap: the real /opt/ml for scripts that hard-code it, and the sandbox for untrusted code."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import bwrap_usable, write_script

from mlyard.errors import UnexpectedStatusException, ValidationError
from mlyard.estimator import Estimator

needs_bwrap = pytest.mark.skipif(not bwrap_usable(), reason="bubblewrap is not installed (apt-get install bubblewrap)")

HARD_CODED = """
    import os
    files = sorted(os.listdir("/opt/ml/input/data/train"))
    with open("/opt/ml/model/files.txt", "w") as fh:
        fh.write(",".join(files))
    print("model dir", os.environ["SM_MODEL_DIR"], "files", files)
"""


@needs_bwrap
def test_hard_coded_opt_ml_paths_run_unchanged(session, tmp_path: Path, data_dir: Path, home: Path) -> None:
    write_script(tmp_path, "hard.py", HARD_CODED)
    est = Estimator(entry_point=str(tmp_path / "hard.py"), instance_type="local", role="r")
    est.fit({"train": f"file://{data_dir}"}, logs=False)
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    assert "model dir /opt/ml/model files ['a.csv', 'b.csv']" in log
    assert not Path("/opt/ml/model/files.txt").exists()  # the host's /opt is untouched


def test_without_bubblewrap_hard_coded_paths_fail_with_a_hint(tmp_path: Path, data_dir: Path, home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if Path("/opt/ml").exists():
        pytest.skip("this machine has a real /opt/ml")
    monkeypatch.setenv("MLYARD_NO_BWRAP", "1")  # the server and its runners inherit it
    import mlyard

    write_script(tmp_path, "hard.py", HARD_CODED)
    est = Estimator(entry_point=str(tmp_path / "hard.py"), instance_type="local", role="r",
                    sagemaker_session=mlyard.Session())
    with pytest.raises(UnexpectedStatusException, match="install bubblewrap"):
        est.fit({"train": f"file://{data_dir}"}, logs=False)
    with pytest.raises(ValidationError, match="bubblewrap"):
        Estimator(entry_point=str(tmp_path / "hard.py"), instance_type="local", role="r", sandbox=True).fit(
            {"train": f"file://{data_dir}"}, logs=False)


@needs_bwrap
def test_sandboxed_job_has_no_network_no_system_writes_and_limits(tmp_path: Path, home: Path) -> None:
    import mlyard

    session = mlyard.Session(sandbox=True)
    port = int(session.client.url.rsplit(":", 1)[1])
    write_script(tmp_path, "probe.py", f"""
        import os, socket
        def attempt(what, fn):
            try:
                fn()
                print(what, "ALLOWED")
            except Exception as exc:
                print(what, "DENIED", type(exc).__name__)
        attempt("network", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))
        attempt("system-write", lambda: open("/usr/mlyard-sandbox-probe", "w"))
        attempt("home-read", lambda: open({str(home / "token")!r}).read())
        attempt("memory", lambda: bytearray(3 * 1024 ** 3))
        attempt("model-write", lambda: open("/opt/ml/model/ok.txt", "w").write("ok"))
        attempt("tmp-write", lambda: open("/tmp/scratch", "w").write("ok"))
        print("token-env", "MLYARD_TOKEN" in os.environ)
    """)
    est = Estimator(entry_point=str(tmp_path / "probe.py"), instance_type="local", role="r",
                    sagemaker_session=session)
    est.fit(logs=False)
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    assert "network DENIED" in log
    assert "system-write DENIED" in log
    assert "home-read DENIED" in log
    assert "memory DENIED MemoryError" in log
    assert "model-write ALLOWED" in log and "tmp-write ALLOWED" in log
    assert "token-env False" in log
    assert est.latest_training_job.describe()["MlyardConfig"]["Sandbox"] is True


@needs_bwrap
def test_sandboxed_job_cannot_reach_host_files_through_symlinks(tmp_path: Path, home: Path) -> None:
    import mlyard

    secret = tmp_path / "host-secret.txt"
    secret.write_text("hostsecret")
    target = tmp_path / "written-by-runner"
    write_script(tmp_path, "sneaky.py", f"""
        import os, shutil, sys
        shutil.rmtree("/opt/ml/model")
        os.symlink({str(tmp_path)!r}, "/opt/ml/model")              # pack the host's files as the model?
        os.symlink({str(home / "token")!r}, "/opt/ml/output/failure")  # the server token as FailureReason?
        os.symlink({str(target)!r}, "/opt/ml/output/success")         # make the runner write a host file?
        print("aws", os.environ.get("AWS_SECRET_ACCESS_KEY"), "secret", os.path.exists({str(secret)!r}),
              "root", os.listdir("/root") if os.path.isdir("/root") else [], flush=True)
        try:
            print("shadow", len(open("/etc/shadow").read()), flush=True)
        except OSError as exc:
            print("shadow denied", type(exc).__name__, flush=True)
        sys.exit(1)
    """)
    import os

    os.environ["AWS_SECRET_ACCESS_KEY"] = "do-not-leak"
    try:
        est = Estimator(entry_point=str(tmp_path / "sneaky.py"), instance_type="local", role="r",
                        sagemaker_session=mlyard.Session(sandbox=True))
        with pytest.raises(UnexpectedStatusException) as info:
            est.fit(logs=False)
    finally:
        del os.environ["AWS_SECRET_ACCESS_KEY"]
    token = (home / "token").read_text()
    desc = est.latest_training_job.describe()
    assert token not in desc["FailureReason"] and token not in str(info.value)
    assert "ExecuteUserScriptError" in desc["FailureReason"]
    assert not target.exists()
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    assert "aws None secret False root " in log
    import ast
    import sys

    root_entries = ast.literal_eval(log.split("aws None secret False root ")[1].splitlines()[0])
    python_homes = {Path(p).resolve().parts[2] for p in (sys.prefix, sys.base_prefix)
                    if Path(p).resolve().parts[1:2] == ("root",)}
    assert set(root_entries) <= python_homes  # only Python's own installation shows through
    assert "shadow denied" in log or "shadow 0" in log
