"""``sagemaker.tensorflow.serving``'s names, which older notebooks import: ``Model`` is
``TensorFlowModel`` and ``Predictor`` is ``TensorFlowPredictor``."""

from mlyard.tensorflow.model import TensorFlowModel as Model
from mlyard.tensorflow.model import TensorFlowPredictor as Predictor

__all__ = ["Model", "Predictor"]
