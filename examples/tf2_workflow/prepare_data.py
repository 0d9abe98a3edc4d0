"""Write the example's raw data: scikit-learn's bundled diabetes data set as .npy arrays.

    python prepare_data.py [DATA_DIR]      (default: ./data next to this file)

Creates DATA_DIR/raw/{x_train,y_train,x_test,y_test}.npy (353 and 89 rows of 10 features; the
target is a disease-progression score), the input of the processing step. ``prepare`` can also
write ready-made DATA_DIR/train and DATA_DIR/test channels, for training without processing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split


def prepare(data_dir: Path, channels: bool = True) -> Path:
    x, y = load_diabetes(return_X_y=True, scaled=False)
    x_train, x_test, y_train, y_test = train_test_split(
        x.astype("float32"), y.astype("float32"), test_size=0.2, random_state=42)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    raw = data_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(raw / f"{name}.npy", array)
    if channels:  # the same split, standardized: what the processing step produces
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        for split in ("train", "test"):
            out = data_dir / split
            out.mkdir(parents=True, exist_ok=True)
            np.save(out / f"x_{split}.npy", (arrays[f"x_{split}"] - mean) / std)
            np.save(out / f"y_{split}.npy", arrays[f"y_{split}"])
    return data_dir


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data"
    print(f"wrote {prepare(target)}")
