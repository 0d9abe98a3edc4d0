"""scikit-learn estimators (``from mlyard.sklearn import SKLearn``)."""

from mlyard.sklearn.estimator import SKLearn
from mlyard.sklearn.model import SKLearnModel, SKLearnPredictor
from mlyard.sklearn.processing import SKLearnProcessor

__all__ = ["SKLearn", "SKLearnModel", "SKLearnPredictor", "SKLearnProcessor"]
