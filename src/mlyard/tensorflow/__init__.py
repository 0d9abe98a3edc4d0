"""TensorFlow estimators (``from mlyard.tensorflow import TensorFlow``)."""

from mlyard.tensorflow.estimator import TensorFlow
from mlyard.tensorflow.model import TensorFlowModel, TensorFlowPredictor

__all__ = ["TensorFlow", "TensorFlowModel", "TensorFlowPredictor"]
