"""Training jobs end to end through the SDK: real runner processes, real scripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, write_script

from mlyard.errors import UnexpectedStatusException
from mlyard.estimator import Estimator


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
