"""The framework estimators with real framework code: scikit-learn and PyTorch scripts."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from conftest import write_script

from mlyard import store
from mlyard.pytorch import PyTorch
from mlyard.sklearn import SKLearn


def test_sklearn_script_trains_on_uploaded_data(session, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    raw = tmp_path / "raw"
    raw.mkdir()
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    rows = "\n".join(",".join([str(int(t)), *map(str, f)]) for f, t in zip(x, y, strict=True))
    (raw / "iris.csv").write_text(rows + "\n")
    uri = session.upload_data(str(raw), key_prefix="datasets/iris")
    assert uri.endswith("/datasets/iris") and store.exists(store.join(uri, "iris.csv"))
    write_script(tmp_path / "src", "train.py", """
        import argparse, os
        import joblib, numpy as np
        from sklearn.linear_model import LogisticRegression
        p = argparse.ArgumentParser()
        p.add_argument("--C", type=float, default=1.0)
        args, _ = p.parse_known_args()
        data = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "iris.csv"), delimiter=",")
        model = LogisticRegression(C=args.C, max_iter=500).fit(data[:, 1:], data[:, 0])
        print(f"train_accuracy: {model.score(data[:, 1:], data[:, 0]):.4f}")
        joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    """)
    est = SKLearn(entry_point="train.py", source_dir=str(tmp_path / "src"), framework_version="1.5",
                  instance_type="local", role="r", hyperparameters={"C": 2.0},
                  metric_definitions=[{"Name": "train_accuracy", "Regex": "train_accuracy: ([0-9.]+)"}])
    est.fit({"train": uri}, logs=False)
    final = est.latest_training_job.describe()["FinalMetricDataList"][0]
    assert final["MetricName"] == "train_accuracy" and final["Value"] > 0.9
    with tarfile.open(store.local_path(est.model_data)) as tar:
        assert tar.getnames() == ["model.joblib"]


def test_pytorch_ddp_across_two_hosts(session, tmp_path: Path, home: Path) -> None:
    pytest.importorskip("torch")
    write_script(tmp_path, "ddp.py", """
        import os
        import torch
        import torch.distributed as dist
        dist.init_process_group("gloo")   # MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE from the job
        t = torch.tensor([float(dist.get_rank() + 1)])
        dist.all_reduce(t)
        print("rank", dist.get_rank(), "of", dist.get_world_size(), "sum", t.item(), flush=True)
        dist.destroy_process_group()
    """)
    est = PyTorch(entry_point=str(tmp_path / "ddp.py"), framework_version="2.13", py_version="py311",
                  instance_type="local", instance_count=2, role="r")
    est.fit(logs=False)
    logs = home / "jobs" / est.latest_training_job.name / "logs"
    assert "rank 0 of 2 sum 3.0" in (logs / "algo-1.log").read_text()
    assert "rank 1 of 2 sum 3.0" in (logs / "algo-2.log").read_text()
