"""The evaluation step of the retraining workflow: the test set's mean squared error of the model
the training step made, printed as ``test_mse: <value>`` (the processor's metric definition reads
it; the workflow's quality gate compares it) and written to /opt/ml/processing/evaluation."""

import glob
import json
import os
import tarfile

import numpy as np

MODEL, TEST, OUT = "/opt/ml/processing/model", "/opt/ml/processing/test", "/opt/ml/processing/evaluation"

if __name__ == "__main__":
    archive = glob.glob(os.path.join(MODEL, "*.tar.gz"))[0]
    unpacked = os.path.join("/tmp", "model")
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    import tensorflow as tf

    serve = tf.saved_model.load(os.path.join(unpacked, "1")).signatures["serving_default"]
    (input_name,) = serve.structured_input_signature[1].keys()
    x, y = np.load(os.path.join(TEST, "x_test.npy")), np.load(os.path.join(TEST, "y_test.npy"))
    predictions = next(iter(serve(**{input_name: tf.constant(x)}).values())).numpy().ravel()
    mse = float(np.mean((predictions - y) ** 2))
    print(f"test_mse: {mse:.4f}", flush=True)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "evaluation.json"), "w") as fh:
        json.dump({"regression_metrics": {"mse": {"value": mse}}}, fh)
