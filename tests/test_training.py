"""Training jobs end to end through the SDK: real runner processes, real scripts."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from conftest import git, wait_for, write_local_package, write_script

from mlyard import store
from mlyard.errors import UnexpectedStatusException
from mlyard.estimator import Estimator
from mlyard.sklearn import SKLearn


def test_script_sees_the_training_contract(session, tmp_path: Path, data_dir: Path) -> None:
    src = tmp_path / "src"
    write_script(src, "train.py", """
        import json, os, sys
        env = {k: v for k, v in os.environ.items() if k.startswith("SM_")}
        out = {"argv": sys.argv[1:], "env": env, "cwd": os.getcwd(),
               "files": sorted(os.listdir(os.environ["SM_CHANNEL_TRAINING"]))}
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "contract.json"), "w") as fh:
            json.dump(out, fh)
        with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "extra.txt"), "w") as fh:
            fh.write("data")
        print("loss: 0.5")
        print("loss: 0.25")
    """)
    est = SKLearn(entry_point="train.py", source_dir=str(src), framework_version="1.5", role="r",
                  instance_type="local", hyperparameters={"alpha": 0.5, "name": "x", "b": True, "d": {"k": 1}},
                  metric_definitions=[{"Name": "loss", "Regex": "loss: ([0-9.]+)"}],
                  environment={"MY_VAR": "yes"})
    est.fit({"training": f"file://{data_dir}"}, logs=False)
    desc = est.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed"
    assert desc["FinalMetricDataList"][0]["MetricName"] == "loss"
    assert desc["FinalMetricDataList"][0]["Value"] == 0.25
    model = store.local_path(est.model_data)
    with tarfile.open(model) as tar:
        contract = json.load(tar.extractfile("contract.json"))
    assert contract["argv"] == ["--alpha", "0.5", "-b", "True", "-d", "k=1", "--name", "x"]
    env = contract["env"]
    assert json.loads(env["SM_HPS"]) == {"alpha": 0.5, "b": True, "d": {"k": 1}, "name": "x"}
    assert env["SM_CHANNELS"] == '["training"]'
    assert env["SM_HOSTS"] == '["algo-1"]' and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    assert json.loads(env["SM_TRAINING_ENV"])["job_name"] == desc["TrainingJobName"]
    assert contract["files"] == ["a.csv", "b.csv"]
    assert store.exists(desc["OutputArtifacts"]["S3OutputArtifacts"])
    df = est.training_job_analytics.dataframe()
    assert list(df["value"]) == [0.5, 0.25]


def test_failing_script_reports_its_own_error(session, tmp_path: Path) -> None:
    write_script(tmp_path, "boom.py", """
        import sys
        print("starting")
        raise ValueError("the data has no column named price")
    """)
    est = Estimator(entry_point=str(tmp_path / "boom.py"), instance_type="local", role="r")
    with pytest.raises(UnexpectedStatusException) as info:
        est.fit(logs=False)
    reason = est.latest_training_job.describe()["FailureReason"]
    assert "ValueError: the data has no column named price" in reason
    assert "ExitCode 1" in reason
    assert "the data has no column named price" in str(info.value)


def test_failure_file_becomes_the_reason(session, tmp_path: Path) -> None:
    write_script(tmp_path, "fail.py", """
        import os, sys
        with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as fh:
            fh.write("learning rate too high: loss is NaN")
        sys.exit(3)
    """)
    est = Estimator(entry_point=str(tmp_path / "fail.py"), instance_type="local", role="r")
    with pytest.raises(UnexpectedStatusException):
        est.fit(logs=False)
    assert est.latest_training_job.describe()["FailureReason"] == "learning rate too high: loss is NaN"


def test_max_run_stops_the_job(session, tmp_path: Path) -> None:
    write_script(tmp_path, "slow.py", """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # forces the SIGKILL path
        print("sleeping", flush=True)
        time.sleep(600)
    """)
    est = Estimator(entry_point=str(tmp_path / "slow.py"), instance_type="local", role="r", max_run=1)
    with pytest.warns(UserWarning, match="max_run"):
        est.fit(logs=False)
    desc = est.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Stopped"
    assert desc["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "max_run of 1 seconds" in desc["FailureReason"]


def test_requirements_install_into_a_cached_environment(session, tmp_path: Path, home: Path) -> None:
    src = tmp_path / "src"
    pkg = tmp_path / "localpkg"
    write_local_package(pkg, "mlyard-probe-pkg", "mlyard_probe_pkg", "VALUE = 42\n")
    write_script(src, "requirements.txt", f"{pkg}\n")
    write_script(src, "train.py", """
        import sys, mlyard_probe_pkg
        print("probe", mlyard_probe_pkg.VALUE, sys.prefix)
    """)
    est = Estimator(entry_point="train.py", source_dir=str(src), instance_type="local", role="r")
    est.fit(logs=False)
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    assert "probe 42" in log
    assert str(home / "envs") in log
    import importlib.util

    assert importlib.util.find_spec("mlyard_probe_pkg") is None  # not in mlyard's own environment


def test_bad_requirements_fail_at_start(session, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_script(src, "requirements.txt", "this-package-does-not-exist-anywhere==0.0.1\n")
    write_script(src, "train.py", "print('never runs')\n")
    est = Estimator(entry_point="train.py", source_dir=str(src), instance_type="local", role="r")
    with pytest.raises(UnexpectedStatusException, match="InstallRequirementsError"):
        est.fit(logs=False)


def test_shell_entry_point_and_dependencies(session, tmp_path: Path, home: Path) -> None:
    src = tmp_path / "src"
    write_script(src, "run.sh", """
        echo "args: $@"
        echo "hp: $SM_HP_EPOCHS"
        cat shared_lib/VERSION
    """)
    write_script(tmp_path / "shared_lib", "VERSION", "lib-1.2\n")
    est = Estimator(entry_point="run.sh", source_dir=str(src), dependencies=[str(tmp_path / "shared_lib")],
                    instance_type="local", role="r", hyperparameters={"epochs": 3})
    est.fit(logs=False)
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    assert "args: --epochs 3" in log
    assert "hp: 3" in log
    assert "lib-1.2" in log


def test_package_entry_point(session, tmp_path: Path, home: Path) -> None:
    src = tmp_path / "src"
    write_script(src, "setup.py", "from setuptools import setup\nsetup(name='trainpkg', py_modules=['trainer'])\n")
    write_script(src, "trainer.py", """
        import sys
        if __name__ == "__main__":
            print("module run with", sys.argv[1:])
    """)
    est = Estimator(entry_point="trainer.py", source_dir=str(src), instance_type="local", role="r",
                    hyperparameters={"lr": 0.1})
    est.fit(logs=False)
    log = (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()
    assert "module run with ['--lr', '0.1']" in log


def test_git_config_branch_and_commit(session, tmp_path: Path, home: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_script(repo / "training", "train.py", "print('version one')\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    first = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-qb", "feature")
    write_script(repo / "training", "train.py", "print('version two')\n")
    git(repo, "commit", "-qam", "two")
    git(repo, "checkout", "-q", "main")

    def run(git_config: dict) -> str:
        est = Estimator(entry_point="train.py", source_dir="training", git_config=git_config,
                        instance_type="local", role="r")
        est.fit(logs=False)
        return (home / "jobs" / est.latest_training_job.name / "logs" / "algo-1.log").read_text()

    assert "version two" in run({"repo": f"file://{repo}", "branch": "feature"})
    assert "version one" in run({"repo": str(repo), "commit": first})


def test_checkpoints_are_synced_and_restored(session, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt-store"
    write_script(tmp_path, "ckpt.py", """
        import os
        path = "/opt/ml/checkpoints" if os.path.isdir("/opt/ml/checkpoints") else None
        d = os.environ.get("CKPT_DIR") or path
        prev = sorted(os.listdir(d))
        print("restored", prev)
        n = len(prev)
        with open(os.path.join(d, f"epoch-{n}.ckpt"), "w") as fh:
            fh.write(str(n))
    """)
    from conftest import bwrap_usable

    if not bwrap_usable():
        pytest.skip("the script reads /opt/ml/checkpoints, which needs bubblewrap")
    for expected in (0, 1):
        est = Estimator(entry_point=str(tmp_path / "ckpt.py"), instance_type="local", role="r",
                        checkpoint_s3_uri=f"file://{ckpt}")
        est.fit(logs=False)
        assert sorted(p.name for p in ckpt.iterdir()) == [f"epoch-{i}.ckpt" for i in range(expected + 1)]


def test_v1_argument_names_warn(session, tmp_path: Path) -> None:
    write_script(tmp_path, "t.py", "print('ok')\n")
    with pytest.warns(DeprecationWarning, match="train_instance_type"):
        est = Estimator(entry_point=str(tmp_path / "t.py"), train_instance_type="local", train_instance_count=1,
                        role="r")
    assert est.instance_type == "local"
    from mlyard.tensorflow import TensorFlow

    with pytest.warns(DeprecationWarning, match="script_mode"):
        TensorFlow(entry_point=str(tmp_path / "t.py"), instance_type="local", framework_version="2.21",
                   script_mode=True)


def test_fit_without_wait_and_attach(session, tmp_path: Path) -> None:
    write_script(tmp_path, "t.py", "import time; time.sleep(1); print('val: 7')\n")
    est = Estimator(entry_point=str(tmp_path / "t.py"), instance_type="local", role="r",
                    metric_definitions=[{"Name": "val", "Regex": "val: ([0-9]+)"}], hyperparameters={"k": 2})
    est.fit(wait=False)
    name = est.latest_training_job.name
    assert est.latest_training_job.describe()["TrainingJobStatus"] == "InProgress"
    again = Estimator.attach(name)
    assert again.hyperparameters() == {"k": 2}
    desc = again.latest_training_job.wait(logs=False)
    assert desc["TrainingJobStatus"] == "Completed"
    assert again.training_job_analytics.dataframe()["value"].tolist() == [7.0]


def test_a_stopped_script_gets_sigterm_and_its_model_is_kept(session, tmp_path: Path) -> None:
    write_script(tmp_path, "graceful.py", """
        import os, signal, sys, time
        def save(*_):
            with open(os.path.join(os.environ["SM_MODEL_DIR"], "last.txt"), "w") as fh:
                fh.write("saved on SIGTERM")
            sys.exit(0)
        signal.signal(signal.SIGTERM, save)
        print("ready", flush=True)
        time.sleep(600)
    """)
    est = Estimator(entry_point=str(tmp_path / "graceful.py"), instance_type="local", role="r")
    est.fit(wait=False)
    job = est.latest_training_job
    wait_for(lambda: "ready" in b"".join(session.client.job_logs(job.name)).decode())  # its handler is set
    job.stop()
    assert job.wait(logs=False)["TrainingJobStatus"] == "Stopped"
    with tarfile.open(store.local_path(est.model_data)) as tar:
        assert tar.extractfile("last.txt").read() == b"saved on SIGTERM"
