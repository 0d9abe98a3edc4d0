"""Processing jobs end to end: the contract, distribution, outputs, failures, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLE, bwrap_usable, git, wait_for, write_local_package, write_script

from mlyard import store
from mlyard.errors import MlyardWarning, UnexpectedStatusException, ValidationError
from mlyard.processing import FrameworkProcessor, ProcessingInput, ProcessingOutput, ScriptProcessor
from mlyard.sklearn import SKLearn
from mlyard.sklearn.processing import SKLearnProcessor

pytestmark = pytest.mark.skipif(not bwrap_usable(), reason="processing scripts use /opt/ml paths: needs bubblewrap")

LISTER = """
    import json, os, sys
    host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
    config = json.load(open("/opt/ml/config/processingjobconfig.json"))
    seen = sorted(os.listdir("/opt/ml/processing/input/data"))
    os.makedirs("/opt/ml/processing/out", exist_ok=True)
    with open(f"/opt/ml/processing/out/{host}.json", "w") as fh:
        json.dump({"seen": seen, "args": sys.argv[1:], "job": config["ProcessingJobName"],
                   "count": config["ProcessingResources"]["ClusterConfig"]["InstanceCount"]}, fh)
    with open("/opt/ml/output/message", "w") as fh:
        fh.write(f"{host} saw {len(seen)}")
"""


def _files(n: int, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"part-{i:02d}.csv").write_text(f"{i}\n")
    return root


def _results(uri: str) -> dict[str, dict]:
    return {key: json.loads(store.read_bytes(u)) for u, key in store.list_objects(uri)}


def test_fully_replicated_gives_every_instance_everything(session, tmp_path: Path) -> None:
    """(ShardedByS3Key over instances is in the job-contract battery, test_job_contract.py.)"""
    data = _files(7, tmp_path / "raw")
    write_script(tmp_path, "lister.py", LISTER)
    out = tmp_path / "out"
    p = ScriptProcessor(command=["python3"], instance_type="local", instance_count=3, role="r")
    with pytest.warns(MlyardWarning, match="scaled down"):
        p.run(code=str(tmp_path / "lister.py"),
              inputs=[ProcessingInput(source=str(data), destination="/opt/ml/processing/input/data",
                                      s3_data_distribution_type="FullyReplicated")],
              outputs=[ProcessingOutput(source="/opt/ml/processing/out", destination=f"file://{out}")],
              arguments=["--flag", "1"], logs=False)
    results = _results(f"file://{out}")
    assert sorted(results) == ["algo-1.json", "algo-2.json", "algo-3.json"]
    every = [f"part-{i:02d}.csv" for i in range(7)]
    assert all(r["seen"] == every for r in results.values())
    first = next(iter(results.values()))
    assert first["args"] == ["--flag", "1"] and first["count"] == 3
    desc = p.latest_job.describe()
    assert desc["ProcessingJobStatus"] == "Completed"
    assert "algo-1 saw" in desc["ExitMessage"] and "algo-3 saw" in desc["ExitMessage"]
    assert [j["Kind"] for j in session.client.list_jobs()] == ["processing"]


def test_continuous_outputs_upload_while_running_end_of_job_after(session, tmp_path: Path) -> None:
    cont, eoj = tmp_path / "continuous", tmp_path / "end"
    data = _files(1, tmp_path / "raw")
    write_script(tmp_path, "writer.py", f"""
        import os, time
        open("/opt/ml/processing/cont/early.txt", "w").write("early")
        open("/opt/ml/processing/eoj/result.txt", "w").write("done")
        for _ in range(100):     # the continuous output reaches its destination while the job runs
            if os.path.exists({str(cont / "early.txt")!r}):
                break
            time.sleep(0.1)
        print("continuous upload seen:", os.path.exists({str(cont / "early.txt")!r}))
        print("end-of-job upload seen:", os.path.exists({str(eoj / "result.txt")!r}))
    """)
    p = ScriptProcessor(command=["python3"], instance_type="local", role="r")
    p.run(code=str(tmp_path / "writer.py"),
          inputs=[ProcessingInput(source=str(data), destination="/opt/ml/processing/input")],
          outputs=[ProcessingOutput(source="/opt/ml/processing/cont", destination=str(cont),
                                    s3_upload_mode="Continuous"),
                   ProcessingOutput(source="/opt/ml/processing/eoj", destination=str(eoj))], logs=False)
    log = (session.client.describe_job(p.latest_job.job_name)["JobDirectory"])
    text = (Path(log) / "logs" / "algo-1.log").read_text()
    assert "continuous upload seen: True" in text
    assert "end-of-job upload seen: False" in text
    assert (eoj / "result.txt").read_text() == "done" and (cont / "early.txt").read_text() == "early"


def test_a_failing_instance_fails_the_job_and_nothing_is_uploaded(session, tmp_path: Path) -> None:
    data = _files(2, tmp_path / "raw")
    write_script(tmp_path, "fails.py", """
        import json, time
        host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
        open("/opt/ml/processing/out/partial.txt", "w").write(host)
        if host == "algo-2":
            raise KeyError("column 'price' missing in part-01.csv")
        time.sleep(600)
    """)
    out = tmp_path / "out"
    p = ScriptProcessor(command=["python3"], instance_type="local", instance_count=2, role="r")
    started = time.monotonic()
    with pytest.raises(UnexpectedStatusException, match="column 'price' missing"):
        p.run(code=str(tmp_path / "fails.py"),
              inputs=[ProcessingInput(source=str(data), destination="/opt/ml/processing/input",
                                      s3_data_distribution_type="ShardedByS3Key")],
              outputs=[ProcessingOutput(source="/opt/ml/processing/out", destination=str(out))], logs=False)
    assert time.monotonic() - started < 60  # algo-1 was stopped, not waited for
    desc = p.latest_job.describe()
    assert desc["ProcessingJobStatus"] == "Failed" and desc["FailureReason"].startswith("algo-2: ")
    assert not out.exists()


def test_an_output_the_script_never_wrote_fails_the_job(session, tmp_path: Path) -> None:
    data = _files(1, tmp_path / "raw")
    write_script(tmp_path, "lazy.py", "open('/opt/ml/processing/a/x.txt', 'w').write('x')\n")
    p = ScriptProcessor(command=["python3"], instance_type="local", role="r")
    with pytest.raises(UnexpectedStatusException, match="wrote nothing to output 'b'"):
        p.run(code=str(tmp_path / "lazy.py"),
              inputs=[ProcessingInput(source=str(data), destination="/opt/ml/processing/input")],
              outputs=[ProcessingOutput(output_name="a", source="/opt/ml/processing/a"),
                       ProcessingOutput(output_name="b", source="/opt/ml/processing/b")], logs=False)


def test_two_instances_writing_the_same_key_is_reported(session, tmp_path: Path) -> None:
    data = _files(1, tmp_path / "raw")
    write_script(tmp_path, "same.py", "open('/opt/ml/processing/out/summary.txt', 'w').write('x')\n")
    p = ScriptProcessor(command=["python3"], instance_type="local", instance_count=2, role="r")
    p.run(code=str(tmp_path / "same.py"),
          inputs=[ProcessingInput(source=str(data), destination="/opt/ml/processing/input")],
          outputs=[ProcessingOutput(source="/opt/ml/processing/out", destination=str(tmp_path / "out"))],
          logs=False)
    events = p.latest_job.describe()["Events"]
    assert len(events) == 1 and "'summary.txt' was written by both algo-1 and algo-2" in events[0]


def test_bad_input_is_refused_before_the_job_starts(session, tmp_path: Path) -> None:
    data = _files(1, tmp_path / "raw")
    write_script(tmp_path, "ok.py", "print('ok')\n")
    p = ScriptProcessor(command=["python3"], instance_type="local", role="r")

    def run(inputs, outputs=()):  # type: ignore[no-untyped-def]
        p.run(code=str(tmp_path / "ok.py"), inputs=inputs, outputs=list(outputs), logs=False)

    with pytest.raises(ValidationError, match="does not exist"):
        run([ProcessingInput(source=str(tmp_path / "nope"), destination="/opt/ml/processing/input")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match="is empty"):
        run([ProcessingInput(source=str(tmp_path / "empty"), destination="/opt/ml/processing/input")])
    with pytest.raises(ValidationError, match="must be absolute"):
        run([ProcessingInput(source=str(data), destination="processing/input")])
    with pytest.raises(ValidationError, match="both use '/opt/ml/processing/input'"):
        run([ProcessingInput(source=str(data), destination="/opt/ml/processing/input"),
             ProcessingInput(source=str(data), destination="/opt/ml/processing/input/")])
    with pytest.raises(ValidationError, match="code 'missing.py' does not exist"):
        p.run(code="missing.py")
    assert session.client.list_jobs() == []


def test_the_example_preprocessing_script_with_hard_coded_paths(session, tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(EXAMPLE))
    from prepare_data import prepare

    raw = prepare(tmp_path / "data", channels=False) / "raw"
    p = SKLearnProcessor(framework_version="1.5", role="r", instance_type="local", instance_count=2)
    p.run(code=str(EXAMPLE / "preprocessing.py"),
          inputs=[ProcessingInput(source=str(raw), destination="/opt/ml/processing/input",
                                  s3_data_distribution_type="ShardedByS3Key")],
          outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                   ProcessingOutput(output_name="test", source="/opt/ml/processing/test")], logs=False)
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"]
               for o in p.latest_job.describe()["ProcessingOutputConfig"]["Outputs"]}
    assert sorted(k for _, k in store.list_objects(outputs["train"])) == ["x_train.npy", "y_train.npy"]
    assert sorted(k for _, k in store.list_objects(outputs["test"])) == ["x_test.npy", "y_test.npy"]
    x = np.load(store.local_path(store.join(outputs["train"], "x_train.npy")))
    assert x.shape == (353, 10) and abs(float(x.mean())) < 1e-5  # standardized
    # ... and training consumes the processing job's outputs as its channels.
    write_script(tmp_path / "src", "train.py", """
        import os, numpy as np
        x = np.load(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "x_train.npy"))
        print("rows", x.shape[0])
    """)
    est = SKLearn(entry_point="train.py", source_dir=str(tmp_path / "src"), framework_version="1.5",
                  instance_type="local", role="r", metric_definitions=[{"Name": "rows", "Regex": "rows (\\d+)"}])
    est.fit({"train": outputs["train"], "test": outputs["test"]}, logs=False)
    assert est.latest_training_job.describe()["FinalMetricDataList"][0]["Value"] == 353


def test_framework_processor_with_source_dir_and_requirements(session, tmp_path: Path, home: Path) -> None:
    pkg = tmp_path / "helperpkg"
    write_local_package(pkg, "mlyard-proc-helper", "mlyard_proc_helper", "def scale(v):\n    return v * 10\n")
    src = tmp_path / "src"
    write_script(src, "requirements.txt", f"{pkg}\n")
    write_script(src, "util.py", "NAME = 'util'\n")
    write_script(src, "run.py", """
        import sys
        from mlyard_proc_helper import scale
        import util
        open("/opt/ml/processing/out/r.txt", "w").write(f"{util.NAME} {scale(int(sys.argv[1]))}")
    """)
    data = _files(1, tmp_path / "raw")
    p = FrameworkProcessor(SKLearn, "1.5", role="r", instance_type="local", instance_count=1)
    p.run(code="run.py", source_dir=str(src), arguments=["4"],
          inputs=[ProcessingInput(source=str(data), destination="/opt/ml/processing/input")],
          outputs=[ProcessingOutput(source="/opt/ml/processing/out", destination=str(tmp_path / "out"))],
          logs=False)
    assert (tmp_path / "out" / "r.txt").read_text() == "util 40"


def test_manifest_input_metrics_and_stop(session, tmp_path: Path) -> None:
    data = _files(4, tmp_path / "raw")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([{"prefix": f"file://{data}/"}, "part-01.csv", "part-03.csv"]))
    write_script(tmp_path, "m.py", """
        import os
        files = sorted(os.listdir("/opt/ml/processing/input/data"))
        print("files", files)
        print(f"rows_processed: {len(files)}")
        open("/opt/ml/processing/out/ok", "w").write("ok")
    """)
    p = ScriptProcessor(command=["python3"], instance_type="local", role="r",
                        metric_definitions=[{"Name": "rows", "Regex": "rows_processed: ([0-9]+)"}])
    p.run(code=str(tmp_path / "m.py"),
          inputs=[ProcessingInput(source=str(manifest), destination="/opt/ml/processing/input/data",
                                  s3_data_type="ManifestFile")],
          outputs=[ProcessingOutput(source="/opt/ml/processing/out")], logs=False)
    desc = p.latest_job.describe()
    assert desc["FinalMetricDataList"][0]["Value"] == 2.0
    log = (Path(desc["JobDirectory"]) / "logs" / "algo-1.log").read_text()
    assert "files ['part-01.csv', 'part-03.csv']" in log
    write_script(tmp_path, "long.py", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    p.run(code=str(tmp_path / "long.py"), wait=False,
          inputs=[ProcessingInput(source=str(data), destination="/opt/ml/processing/input/data")])
    running = p.latest_job.name
    wait_for(lambda: "up" in b"".join(session.client.job_logs(running)).decode())
    p.latest_job.stop()
    assert p.latest_job.wait(logs=False)["ProcessingJobStatus"] == "Stopped"
    assert len(p.jobs) == 2


def test_framework_processor_runs_code_from_a_git_repository(session, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_script(repo / "scripts", "hello.py", """
        open("/opt/ml/processing/out/r.txt", "w").write("from git")
    """)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "c")
    p = FrameworkProcessor(SKLearn, "1.5", role="r", instance_type="local", instance_count=1)
    # The entry point is packed by its file name: the job must run it under that name.
    p.run(code="scripts/hello.py", git_config={"repo": str(repo)},
          outputs=[ProcessingOutput(source="/opt/ml/processing/out", destination=str(tmp_path / "out"))],
          logs=False)
    assert (tmp_path / "out" / "r.txt").read_text() == "from git"
