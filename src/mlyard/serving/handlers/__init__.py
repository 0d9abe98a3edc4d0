"""Model handlers: one class per kind of model, all behind ``Handler``; ``load_handler`` picks."""

from mlyard.serving.handlers.base import Handler, load_handler

__all__ = ["Handler", "load_handler"]
