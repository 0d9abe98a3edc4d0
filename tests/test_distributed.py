"""instance_count > 1: N hosts as N processes that can find each other."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest
from conftest import write_script

from mlyard import TrainingInput, store
from mlyard.errors import UnexpectedStatusException
from mlyard.estimator import Estimator


def test_two_hosts_rendezvous_and_shard(session, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(6):
        (data / f"part-{i}.txt").write_text(str(i))
    write_script(tmp_path / "src", "dist.py", """
        import json, os, socket, time
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
        host = os.environ["SM_CURRENT_HOST"]
        files = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
        # A minimal rendezvous, the way torch.distributed's TCP store does it: rank 0 listens.
        if rank == 0:
            srv = socket.create_server((addr, port))
            conn, _ = srv.accept()
            peer = conn.recv(100).decode()
        else:
            for _ in range(200):
                try:
                    conn = socket.create_connection((addr, port))
                    break
                except OSError:
                    time.sleep(0.05)
            conn.sendall(host.encode())
            peer = "rank0"
        out = {"host": host, "hosts": json.loads(os.environ["SM_HOSTS"]), "rank": rank, "world": world,
               "peer": peer, "files": files, "tf_config": json.loads(os.environ["TF_CONFIG"])}
        with open(os.path.join(os.environ["SM_MODEL_DIR"], f"{host}.json"), "w") as fh:
            json.dump(out, fh)
    """)
    est = Estimator(entry_point="dist.py", source_dir=str(tmp_path / "src"), instance_type="local",
                    instance_count=2, role="r")
    est.fit({"train": TrainingInput(f"file://{data}", distribution="ShardedByS3Key")}, logs=False)
    with tarfile.open(store.local_path(est.model_data)) as tar:
        hosts = {n: json.load(tar.extractfile(n)) for n in ("algo-1.json", "algo-2.json")}
    one, two = hosts["algo-1.json"], hosts["algo-2.json"]
    assert one["hosts"] == ["algo-1", "algo-2"] and (one["rank"], two["rank"]) == (0, 1)
    assert one["world"] == two["world"] == 2
    assert one["peer"] == "algo-2"
    assert sorted(one["files"] + two["files"]) == [f"part-{i}.txt" for i in range(6)]
    assert not set(one["files"]) & set(two["files"])
    assert len(one["tf_config"]["cluster"]["worker"]) == 2
    assert two["tf_config"]["task"] == {"type": "worker", "index": 1}


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
