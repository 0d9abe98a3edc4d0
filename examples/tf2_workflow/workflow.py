"""The TensorFlow 2 workflow, step by step, on your own machine.

    python examples/tf2_workflow/workflow.py      (or: make demo)

1. Prepare data: the diabetes data set as .npy train/test sets.
2. Train in local mode: a script-mode Keras script, run as a SageMaker training job would run it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from prepare_data import prepare  # noqa: E402

from mlyard import get_execution_role  # noqa: E402
from mlyard.tensorflow import TensorFlow  # noqa: E402


def step(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def main() -> None:
    step("1. Prepare data")
    data = prepare(HERE / "data")
    print(f"train/test sets under {data}")

    step("2. Train in local mode")
    metric_definitions = [{"Name": "loss", "Regex": " loss: ([0-9\\.]+)"},
                          {"Name": "val_loss", "Regex": " val_loss: ([0-9\\.]+)"}]
    estimator = TensorFlow(entry_point="train.py", source_dir=str(HERE / "train_model"),
                           role=get_execution_role(), instance_type="local", instance_count=1,
                           framework_version="2.21", py_version="py3",
                           hyperparameters={"epochs": 30, "batch_size": 32, "learning_rate": 0.01},
                           metric_definitions=metric_definitions)
    started = time.monotonic()
    estimator.fit({"train": f"file://{data}/train", "test": f"file://{data}/test"})
    job = estimator.latest_training_job
    assert job is not None
    desc = job.describe()
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    print(f"\ntraining job  {job.name}: {desc['TrainingJobStatus']} in {time.monotonic() - started:.1f}s")
    print(f"model         {estimator.model_data}")
    print(f"final val_loss {final['val_loss']:.2f}")
    df = estimator.training_job_analytics.dataframe()
    series = df[df.metric_name == "val_loss"]["value"]
    print(f"val_loss went from {series.iloc[0]:.1f} to {series.iloc[-1]:.1f} over {len(series)} epochs")


if __name__ == "__main__":
    main()
