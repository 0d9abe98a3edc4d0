"""The control plane: ``mlyard server``."""
