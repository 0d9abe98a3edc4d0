"""The scoring step of the SageMaker pipeline: the mean squared error of the batch transform's
predictions (x_test.csv.out) against the test labels, written to
/opt/ml/processing/evaluation/evaluation.json for the pipeline's quality gate (JsonGet)."""

import glob
import json
import os

import numpy as np

SCORES, TEST, OUT = "/opt/ml/processing/scores", "/opt/ml/processing/test", "/opt/ml/processing/evaluation"

if __name__ == "__main__":
    (scored,) = glob.glob(os.path.join(SCORES, "*.out"))
    with open(scored) as fh:
        predictions = np.array(fh.read().split(), dtype=float)
    labels = np.load(os.path.join(TEST, "y_test.npy"))
    mse = float(np.mean((predictions - labels) ** 2))
    print(f"{len(predictions)} predictions, test_mse: {mse:.4f}", flush=True)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "evaluation.json"), "w") as fh:
        json.dump({"regression_metrics": {"mse": {"value": mse}}}, fh)
