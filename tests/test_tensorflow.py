"""Real TensorFlow training jobs: the example's Keras script, and a TF 2.15-era script."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from conftest import EXAMPLE, write_script

from mlyard import store
from mlyard.tensorflow import TensorFlow

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow

METRICS = [{"Name": "loss", "Regex": " loss: ([0-9\\.]+)"}, {"Name": "val_loss", "Regex": " val_loss: ([0-9\\.]+)"}]


def _members(uri: str) -> list[str]:
    with tarfile.open(store.local_path(uri)) as tar:
        return tar.getnames()


def test_example_keras_script_trains_and_exports_a_savedmodel(session, example_data: Path) -> None:
    est = TensorFlow(entry_point="train.py", source_dir=str(EXAMPLE / "train_model"), role="r",
                     instance_type="local", instance_count=1, framework_version="2.21", py_version="py3",
                     hyperparameters={"epochs": 3, "batch_size": 128, "learning_rate": 0.01},
                     metric_definitions=METRICS)
    est.fit({"train": f"file://{example_data}/train", "test": f"file://{example_data}/test"}, logs=False)
    desc = est.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed"
    assert desc["HyperParameters"]["model_dir"] == '"/opt/ml/model"'
    assert "1/saved_model.pb" in _members(est.model_data)
    df = est.training_job_analytics.dataframe()
    val = df[df.metric_name == "val_loss"]["value"].tolist()
    assert len(val) == 3 and len(df[df.metric_name == "loss"]) == 3  # ' loss' never matches val_loss
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    assert final["val_loss"] == val[-1]


def test_scripts_for_tf_before_2_16_save_with_keras_2(session, tmp_path: Path) -> None:
    pytest.importorskip("tf_keras")
    write_script(tmp_path, "legacy.py", """
        import argparse, os
        import numpy as np
        import tensorflow as tf
        p = argparse.ArgumentParser()
        p.add_argument("--model_dir", default=os.environ["SM_MODEL_DIR"])
        args, _ = p.parse_known_args()
        print("keras", tf.keras.__name__ if hasattr(tf.keras, "__name__") else tf.keras)
        model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(3,))])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.ones((8, 3)), np.ones(8), epochs=1, verbose=0)
        model.save(os.path.join(args.model_dir, "1"))   # Keras 2: a SavedModel directory
    """)
    est = TensorFlow(entry_point=str(tmp_path / "legacy.py"), role="r", instance_type="local",
                     framework_version="2.15", py_version="py310")
    est.fit(logs=False)
    assert "1/saved_model.pb" in _members(est.model_data)


def test_two_hosts_train_with_multi_worker_mirrored_strategy(session, tmp_path: Path, home: Path) -> None:
    pytest.importorskip("tf_keras")  # Keras 3 does not support MultiWorkerMirroredStrategy in model.fit
    write_script(tmp_path, "mw.py", """
        import json, os
        import numpy as np
        import tensorflow as tf
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        print("replicas", strategy.num_replicas_in_sync, flush=True)
        with strategy.scope():
            model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(4,))])
            model.compile(optimizer="sgd", loss="mse")
        rng = np.random.default_rng(int(os.environ["RANK"]))   # different data on each worker
        x = rng.random((64, 4)).astype("float32")
        history = model.fit(x, x.sum(axis=1), epochs=2, batch_size=16, verbose=0)
        print("final-loss %.6f" % history.history["loss"][-1], flush=True)
    """)
    est = TensorFlow(entry_point=str(tmp_path / "mw.py"), role="r", instance_type="local", instance_count=2,
                     framework_version="2.15")
    est.fit(logs=False)
    logs = home / "jobs" / est.latest_training_job.name / "logs"
    texts = [(logs / f"algo-{i}.log").read_text() for i in (1, 2)]
    assert all("replicas 2" in t for t in texts)
    # Gradients are all-reduced across the workers, so both report the same (global) loss.
    losses = [next(ln for ln in t.splitlines() if ln.startswith("final-loss")) for t in texts]
    assert losses[0] == losses[1]
