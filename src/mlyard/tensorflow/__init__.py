"""TensorFlow estimators (``from mlyard.tensorflow import TensorFlow``); ``serving`` keeps the
``sagemaker.tensorflow.serving`` names older notebooks import."""

from mlyard.tensorflow import serving
from mlyard.tensorflow.estimator import TensorFlow
from mlyard.tensorflow.model import TensorFlowModel, TensorFlowPredictor
from mlyard.tensorflow.processing import TensorFlowProcessor

__all__ = ["TensorFlow", "TensorFlowModel", "TensorFlowPredictor", "TensorFlowProcessor", "serving"]
