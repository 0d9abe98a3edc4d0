"""scikit-learn estimators (``from mlyard.sklearn import SKLearn``)."""

from mlyard.sklearn.estimator import SKLearn

__all__ = ["SKLearn"]
