"""Keras regression on the diabetes data, in SageMaker's script-mode shape.

Hyperparameters arrive as command-line arguments; data and model locations come from the
SM_CHANNEL_TRAIN, SM_CHANNEL_TEST and SM_MODEL_DIR environment variables. The model is saved as
a TensorFlow SavedModel under <model_dir>/1, the layout TensorFlow Serving expects.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from model_def import build_model  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=0.1)
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--test", type=str, default=os.environ.get("SM_CHANNEL_TEST"))
    parser.add_argument("--model_dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    return parser.parse_known_args()


def load(channel, split):
    x = np.load(os.path.join(channel, f"x_{split}.npy"))
    y = np.load(os.path.join(channel, f"y_{split}.npy"))
    print(f"{split}: x {x.shape}, y {y.shape}")
    return x, y


if __name__ == "__main__":
    args, _ = parse_args()
    tf.keras.utils.set_random_seed(1)
    x_train, y_train = load(args.train, "train")
    x_test, y_test = load(args.test, "test")

    model = build_model(x_train.shape[1], float(y_train.mean()))
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=args.learning_rate), loss="mse")
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_test, y_test), verbose=2)
    scores = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
    print(f"Test MSE : {scores}")

    export_dir = os.path.join(args.model_dir, "1")
    if hasattr(model, "export"):  # Keras 3 (TF >= 2.16), and tf-keras
        model.export(export_dir)
    else:  # Keras 2 before export() existed
        model.save(export_dir)
