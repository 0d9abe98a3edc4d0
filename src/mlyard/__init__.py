"""mlyard: SageMaker's machine-learning workflow on your own machine.

The public API mirrors the SageMaker Python SDK v2: ``mlyard.estimator.Estimator``,
``mlyard.tensorflow.TensorFlow``, ``mlyard.Session``, ``mlyard.session.Session``,
``mlyard.TrainingInput``... Names and submodules are imported lazily, on first access, so that
job runners, which import this package, start fast: ``import mlyard`` imports none of the SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Top-level names, as ``sagemaker.<name>`` offers them, and the module each lives in.
_LAZY = {
    "Session": "mlyard.session",
    "LocalSession": "mlyard.local",
    "get_execution_role": "mlyard.session",
    "container_def": "mlyard.session",
    "production_variant": "mlyard.session",
    "TrainingInput": "mlyard.inputs",
    "s3_input": "mlyard.inputs",
    "Estimator": "mlyard.estimator",
    "Framework": "mlyard.estimator",
    "Model": "mlyard.model",
    "FrameworkModel": "mlyard.model",
    "ModelPackage": "mlyard.model",
    "ModelMetrics": "mlyard.model_metrics",
    "MetricsSource": "mlyard.model_metrics",
    "Predictor": "mlyard.predictor",
    "PipelineModel": "mlyard.pipeline",
    "Processor": "mlyard.processing",
    "ScriptProcessor": "mlyard.processing",
    "ProcessingInput": "mlyard.processing",
    "ProcessingOutput": "mlyard.processing",
    "ProcessingJob": "mlyard.processing",
    "Transformer": "mlyard.transformer",
    "TrainingJobAnalytics": "mlyard.analytics",
    "HyperparameterTuningJobAnalytics": "mlyard.analytics",
    "HyperparameterTuner": "mlyard.tuner",
    "ContinuousParameter": "mlyard.tuner",
    "IntegerParameter": "mlyard.tuner",
    "CategoricalParameter": "mlyard.tuner",
    "DataCaptureConfig": "mlyard.model_monitor",
}

# Submodules reachable as attributes (``mlyard.session.Session()`` after only ``import mlyard``).
_SUBMODULES = (
    "analytics", "deserializers", "estimator", "exceptions", "image_uris", "inputs", "local", "model",
    "model_monitor", "network", "predictor", "processing", "pytorch", "s3", "serializers", "serverless", "session",
    "sklearn", "tensorflow", "transformer", "tuner", "utils", "workflow", "pipeline", "lambda_helper",
    "model_metrics", "lineage",
)

# What ``sagemaker.<name>`` offers that mlyard does not (yet): asking for one says so plainly.
_NOT_PROVIDED = (
    # submodules
    "amazon", "async_inference", "automl", "batch_inference", "chainer", "clarify", "collection", "debugger",
    "djl_inference", "experiments", "explainer", "feature_store", "huggingface", "jumpstart",
    "model_card", "modules", "multidatamodel", "mxnet", "parameter",
    "remote_function", "serve", "spark", "sparkml", "wrangler", "xgboost",
    "drift_check_baselines", "metadata_properties", "model_uris", "script_uris", "hyperparameters",
    "instance_types", "environment_variables", "fw_utils", "content_types", "vpc_utils", "job",
    # top-level names
    "AmazonAlgorithmEstimatorBase", "FactorizationMachines", "FactorizationMachinesModel",
    "FactorizationMachinesPredictor", "IPInsights", "IPInsightsModel", "IPInsightsPredictor", "KMeans",
    "KMeansModel", "KMeansPredictor", "KNN", "KNNModel", "KNNPredictor", "LDA", "LDAModel", "LDAPredictor",
    "LinearLearner", "LinearLearnerModel", "LinearLearnerPredictor", "NTM", "NTMModel", "NTMPredictor",
    "Object2Vec", "Object2VecModel", "PCA", "PCAModel", "PCAPredictor", "RandomCutForest",
    "RandomCutForestModel", "RandomCutForestPredictor", "AutoML", "AutoMLInput", "AutoMLJob", "AutoMLV2",
    "CandidateEstimator", "CandidateStep",
    "FileSource", "ProfilerConfig", "Profiler", "ModelCard", "pipeline_container_def", "PartnerAppAuthProvider",
)

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def build_id() -> str:
    """This installation's code identity: the version and the newest source file's mtime. A local
    server running other code than its client is restarted by the client (see mlyard.client)."""
    from pathlib import Path

    newest = max((p.stat().st_mtime_ns for p in Path(__file__).parent.rglob("*.py")), default=0)
    return f"{__version__}+{newest}"


def _not_provided(name: str) -> AttributeError:
    return AttributeError(f"mlyard does not provide sagemaker.{name} yet (module 'mlyard' has no attribute "
                          f"{name!r})")


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    if name in _SUBMODULES:
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise  # a real missing dependency of the module: not ours to hide
            raise _not_provided(name) from None
    if name in _NOT_PROVIDED:
        raise _not_provided(name)
    raise AttributeError(f"module 'mlyard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
