"""TensorFlow estimators (``from mlyard.tensorflow import TensorFlow``)."""

from mlyard.tensorflow.estimator import TensorFlow
from mlyard.tensorflow.model import TensorFlowModel, TensorFlowPredictor
from mlyard.tensorflow.processing import TensorFlowProcessor

__all__ = ["TensorFlow", "TensorFlowModel", "TensorFlowPredictor", "TensorFlowProcessor"]
