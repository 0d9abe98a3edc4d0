"""Write the example's data: scikit-learn's bundled diabetes data set as .npy train/test sets.

    python prepare_data.py [DATA_DIR]      (default: ./data next to this file)

Creates DATA_DIR/train/{x_train,y_train}.npy and DATA_DIR/test/{x_test,y_test}.npy
(353 and 89 rows of 10 features; the target is a disease-progression score).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split


def prepare(data_dir: Path) -> Path:
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x.astype("float32"), y.astype("float32"), test_size=0.2, random_state=42)
    for split, xs, ys in (("train", x_train, y_train), ("test", x_test, y_test)):
        out = data_dir / split
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / f"x_{split}.npy", xs)
        np.save(out / f"y_{split}.npy", ys)
    return data_dir


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data"
    print(f"wrote {prepare(target)}")
