"""Image identifiers (SageMaker's ``sagemaker.image_uris``).

mlyard runs no containers: an "image" names a framework and its version, and that is what
estimators, models and processors read from an ``image_uri`` of this form::

    mlyard/<framework>[-<scope>]:<version>[-cpu|-gpu][-py<NN>]   e.g. mlyard/tensorflow-training:2.16-cpu-py311

``retrieve`` returns one; ``parse`` reads one back (None for any other URI, such as an ECR URI in
an old notebook, which is recorded as the job's image and nothing more).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from mlyard.compat import FRAMEWORK_LABELS, check_py_version, check_version, cloud_only, installed_version
from mlyard.errors import ValidationError

__all__ = ["retrieve", "parse", "image_name", "ImageSpec", "FRAMEWORKS"]

FRAMEWORKS = tuple(FRAMEWORK_LABELS)
_ALIASES = {"scikit-learn": "sklearn", "sagemaker-scikit-learn": "sklearn", "torch": "pytorch",
            "tensorflow-training": "tensorflow", "tensorflow-inference": "tensorflow",
            "pytorch-training": "pytorch", "pytorch-inference": "pytorch"}
# Images whose code runs in the SDK's generic estimators and processors (no framework).
_GENERIC = ("python", "processing")
# SageMaker's built-in algorithms and framework containers that mlyard cannot run.
_CANNOT_RUN = (
    "xgboost", "linear-learner", "kmeans", "pca", "factorization-machines", "ntm", "lda", "randomcutforest",
    "knn", "object2vec", "ipinsights", "blazingtext", "image-classification", "object-detection",
    "semantic-segmentation", "seq2seq", "forecasting-deepar", "image-classification-mxnet",
    "object-detection-mxnet", "huggingface", "huggingface-llm", "huggingface-tei", "mxnet", "chainer",
    "sparkml-serving", "spark", "djl-deepspeed", "djl-lmi", "djl-inference", "djl-tensorrtllm", "neo-pytorch",
    "neo-tensorflow", "inferentia-tensorflow", "inferentia-pytorch", "data-wrangler", "clarify",
    "model-monitor", "debugger", "autogluon", "coach-tensorflow", "ray-tensorflow", "ray-pytorch", "vw",
    "stabilityai", "sagemaker-base-python", "sagemaker-geospatial", "tei", "pytorch-smp",
)
_SCOPES = {"training": "training", "inference": "inference", "processing": "processing",
           "training_compiler": "training", "inference_graviton": "inference", "eia": "inference"}
_IMAGE = re.compile(r"^mlyard/(?P<framework>[a-z0-9]+?)(?:-(?P<scope>training|inference|processing))?"
                    r"(?::(?P<tag>[A-Za-z0-9._-]+))?$")
_TAG = re.compile(r"^(?P<version>.+?)(?:-(?P<processor>cpu|gpu))?(?:-(?P<py>py\d+))?$")


@dataclass(frozen=True)
class ImageSpec:
    """What an mlyard image names: ``framework`` (None for the generic ``python``/``processing``
    images), the scope it was retrieved for, the framework version ('latest' -> None), the
    processor and the Python version."""

    framework: str | None
    scope: str | None = None
    version: str | None = None
    processor: str | None = None
    py_version: str | None = None


def image_name(framework: str | None, version: str | None = None, scope: str | None = None,
               processor: str | None = None, py_version: str | None = None) -> str:
    """The identifier of ``framework`` (None: the generic ``python`` image) at ``version``."""
    repo = f"mlyard/{framework or 'python'}" + (f"-{scope}" if scope else "")
    tag = "-".join(part for part in (version or "latest", processor, py_version) if part)
    return f"{repo}:{tag}"


def parse(image_uri: str | None) -> ImageSpec | None:
    """The framework and version an mlyard image names; None for any other image URI (recorded
    only). An ``mlyard/`` image of an unknown framework is refused."""
    if not image_uri or not image_uri.startswith("mlyard/"):
        return None
    m = _IMAGE.match(image_uri)
    if m is None:
        raise ValidationError(f"image_uri {image_uri!r} is not an mlyard image: expected "
                              "mlyard/<framework>[-<scope>]:<version> as image_uris.retrieve() returns it")
    framework = m["framework"]
    if framework in _GENERIC:
        framework = None
    elif framework not in FRAMEWORKS:
        raise ValidationError(f"image_uri {image_uri!r} names the framework {framework!r}, which mlyard does not "
                              f"have: the known frameworks are {', '.join(FRAMEWORKS)}")
    tag = _TAG.match(m["tag"] or "latest")
    assert tag is not None  # the pattern matches any non-empty tag
    version = None if tag["version"] == "latest" else tag["version"]
    check_version(framework, version, what=f"the version in image_uri {image_uri!r}")
    return ImageSpec(framework, m["scope"], version, tag["processor"], tag["py"])


def _framework_name(framework: str) -> str:
    if not isinstance(framework, str) or not framework:
        raise ValidationError(f"framework must be a name such as 'tensorflow', not {framework!r}")
    name = framework.strip().lower()
    name = _ALIASES.get(name, name)
    if name in FRAMEWORKS:
        return name
    if name in _CANNOT_RUN or name.startswith(("huggingface", "djl", "neo-", "inferentia")):
        raise ValidationError(
            f"{framework!r} is a SageMaker built-in algorithm or container, which mlyard cannot run (it runs no "
            f"containers): train and serve with your own script on one of mlyard's frameworks "
            f"({', '.join(FRAMEWORKS)}), e.g. SKLearn(entry_point='train.py', ...)")
    raise ValidationError(f"unknown framework {framework!r}: the known frameworks are {', '.join(FRAMEWORKS)}")


def _processor(instance_type: str | None) -> str:
    """'gpu' for the instance types with GPUs (``local_gpu``, ml.p*, ml.g*), else 'cpu'."""
    if instance_type is None:
        return "cpu"
    if instance_type == "local_gpu":
        return "gpu"
    family = instance_type.removeprefix("ml.").split(".")[0]
    return "gpu" if family[:1] in ("p", "g") and not family.startswith("g4ad") else "cpu"


def retrieve(framework: str, region: str | None = None, version: str | None = None, py_version: str | None = None,
             instance_type: str | None = None, accelerator_type: str | None = None, image_scope: str | None = None,
             container_version: str | None = None, distribution: dict[str, Any] | None = None,
             base_framework_version: str | None = None, training_compiler_config: Any = None,
             model_id: str | None = None, model_version: str | None = None, sdk_version: str | None = None,
             inference_tool: str | None = None, serverless_inference_config: Any = None,
             config_name: str | None = None) -> str:
    """The identifier of ``framework``'s image at ``version`` (default: the installed version)
    for ``image_scope`` ('training' by default, 'inference', 'processing'). ``region`` and the
    container details only pick an image in SageMaker's registries; mlyard has one of each.

    The version is checked here and compared with what is installed where it is used: the
    estimator, model or processor that receives the identifier says once if it differs."""
    if model_id is not None:
        raise ValidationError(f"model_id {model_id!r}: JumpStart models are not provided by mlyard; bring the "
                              "model's artifacts and serve them with a Model (model_data=...)")
    name = _framework_name(framework)
    scope = _SCOPES.get(image_scope or "training")
    if scope is None:
        raise ValidationError(f"image_scope {image_scope!r} is not one of {', '.join(_SCOPES)}")
    cloud_only("image_uris.retrieve", {"accelerator_type": accelerator_type,
                                       "training_compiler_config": training_compiler_config})
    check_version(name, version, what="version")
    check_py_version(py_version)
    if version in (None, "latest"):
        installed = installed_version(name)
        version = ".".join(installed.split(".")[:2]) if installed else None
    py = py_version or f"py{sys.version_info.major}{sys.version_info.minor}"
    return image_name(name, version, scope, _processor(instance_type), py)
