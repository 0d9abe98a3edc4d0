"""TensorFlow estimators (``from mlyard.tensorflow import TensorFlow``)."""

from mlyard.tensorflow.estimator import TensorFlow

__all__ = ["TensorFlow"]
