"""mlyard: SageMaker's machine-learning workflow on your own machine.

The public API mirrors the SageMaker Python SDK v2: ``mlyard.estimator.Estimator``,
``mlyard.tensorflow.TensorFlow``, ``mlyard.Session``, ``mlyard.TrainingInput``... Names are
imported lazily so that job runners, which import this package, start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Session": "mlyard.session",
    "LocalSession": "mlyard.session",
    "get_execution_role": "mlyard.session",
    "TrainingInput": "mlyard.inputs",
    "Estimator": "mlyard.estimator",
    "TrainingJobAnalytics": "mlyard.analytics",
    "HyperparameterTuningJobAnalytics": "mlyard.analytics",
    "HyperparameterTuner": "mlyard.tuner",
}

__all__ = ["__version__", *_LAZY]


def build_id() -> str:
    """This installation's code identity: the version and the newest source file's mtime. A local
    server running other code than its client is restarted by the client (see mlyard.client)."""
    from pathlib import Path

    newest = max((p.stat().st_mtime_ns for p in Path(__file__).parent.rglob("*.py")), default=0)
    return f"{__version__}+{newest}"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlyard' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
