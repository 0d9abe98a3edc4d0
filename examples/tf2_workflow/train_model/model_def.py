"""The example's network: a small fully connected regressor."""

import tensorflow as tf


def build_model(n_features, target_mean):
    return tf.keras.Sequential([
        tf.keras.Input(shape=(n_features,)),
        tf.keras.layers.Dense(64, activation="relu"),
        tf.keras.layers.Dense(32, activation="relu"),
        # Starting at the mean target keeps early losses (and gradients) in a sane range.
        tf.keras.layers.Dense(1, bias_initializer=tf.keras.initializers.Constant(target_mean)),
    ])
