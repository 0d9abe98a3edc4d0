"""The processing step: standardize each feature file this instance received.

Runs as a SageMaker Processing script: the paths under /opt/ml/processing are hard-coded, as in
SageMaker's own sample. With ShardedByS3Key each instance receives some of the raw .npy files;
x_* files are standardized (each with its own statistics, as the sample does), y_* files are
copied, and every file goes to /opt/ml/processing/train or /opt/ml/processing/test by its name.
When the job has a ``batch`` output (the pipeline's), the standardized test features also go there
as x_test.csv, the input of batch scoring.
"""

import argparse
import glob
import json
import os

import numpy as np
from sklearn.preprocessing import StandardScaler

INPUT = "/opt/ml/processing/input"
OUTPUTS = {"train": "/opt/ml/processing/train", "test": "/opt/ml/processing/test"}
BATCH = "/opt/ml/processing/batch"

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clip", type=float, default=5.0, help="clip standardized features to +/- this")
    args, _ = parser.parse_known_args()
    files = sorted(glob.glob(os.path.join(INPUT, "*.npy")))
    with open("/opt/ml/config/resourceconfig.json") as fh:
        host = json.load(fh)["current_host"]
    print(f"{host}: processing {[os.path.basename(f) for f in files]}")
    for path in files:
        name = os.path.basename(path)
        data = np.load(path)
        if name.startswith("x_"):
            data = np.clip(StandardScaler().fit_transform(data), -args.clip, args.clip).astype("float32")
        split = "train" if "train" in name else "test"
        np.save(os.path.join(OUTPUTS[split], name), data)
        print(f"  {name} -> {split} {data.shape}")
        if name == "x_test.npy" and os.path.isdir(BATCH):
            np.savetxt(os.path.join(BATCH, "x_test.csv"), data, delimiter=",", fmt="%.6f")
            print(f"  {name} -> batch/x_test.csv")
