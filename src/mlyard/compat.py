"""What the SDK does with SageMaker arguments it cannot honour, and with framework versions from
other SDK eras: it accepts them with one ``MlyardWarning`` naming them, so a notebook runs
unchanged and its user still learns what was not applied. Estimators, models, processors,
transformers and tuners all go through here, so the rule and the wording are one."""

from __future__ import annotations

import functools
import os
import re
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from mlyard.errors import MlyardWarning, ValidationError

__all__ = ["warn", "cloud_only", "installed_version", "resolve_versions", "FRAMEWORK_LABELS"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

# Why an argument means nothing on a local machine (shown in the warning).
_WHY = {
    "subnets": "jobs run on this machine's network, not in a VPC",
    "security_group_ids": "jobs run on this machine's network, not in a VPC",
    "network_config": "jobs run on this machine's network, not in a VPC",
    "vpc_config": "jobs run on this machine's network, not in a VPC",
    "volume_kms_key": "nothing is encrypted with KMS keys",
    "output_kms_key": "nothing is encrypted with KMS keys",
    "kms_key": "nothing is encrypted with KMS keys",
    "volume_size": "jobs use this machine's disk",
    "volume_size_in_gb": "jobs use this machine's disk",
    "use_spot_instances": "there are no spot instances",
    "max_wait": "there are no spot instances to wait for",
    "enable_network_isolation": "jobs are not cut off from the network (use sandbox=True for isolation)",
    "encrypt_inter_container_traffic": "hosts talk over loopback",
    "model_server_workers": "mlyard's model server runs its own workers",
}

FRAMEWORK_LABELS = {"tensorflow": "TensorFlow", "pytorch": "PyTorch", "sklearn": "scikit-learn"}
_DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos"), "pytorch": ("torch",),
                  "sklearn": ("scikit-learn",)}
# SageMaker's version strings: '2.16', '2.3.0', '1.8', '0.23-1' (a container build after the dash).
_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-\d+)?$")
_PY_VERSION = re.compile(r"^py(\d)(\d*)$")


def _stacklevel() -> int:
    """The stack level of the first caller outside mlyard: warnings point at the user's line."""
    frame = sys._getframe(2)  # the caller of warn()'s caller
    level = 3
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def warn(message: str) -> None:
    """An ``MlyardWarning`` attributed to the user's code, however deep in mlyard it was raised."""
    warnings.warn(message, MlyardWarning, stacklevel=_stacklevel())


def _asks(value: Any) -> bool:
    """Whether an argument's value asks for something (``None``, ``False`` and empties ask for
    nothing: ``use_spot_instances=False`` needs no warning)."""
    return bool(value)  # a NetworkConfig() asking for nothing is falsy too


def cloud_only(owner: str, arguments: Mapping[str, Any]) -> None:
    """One warning naming every argument of ``arguments`` that asks for what mlyard cannot do
    (VPC, KMS, volume size, spot...): accepted so the notebook runs, never silently dropped."""
    asked = {name: value for name, value in arguments.items() if _asks(value)}
    if not asked:
        return
    parts = []
    for name, value in asked.items():
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        why = _WHY.get(name, "SageMaker's cloud feature has no local equivalent")
        parts.append(f"{name}={shown} ({why})")
    verb = "is" if len(parts) == 1 else "are"
    warn(f"{owner}: {'; '.join(parts)} {verb} accepted but not applied by mlyard")


@functools.cache
def installed_version(framework: str) -> str | None:
    """The version of ``framework`` installed where the SDK runs (read from package metadata, so
    the framework itself is not imported), or None."""
    from importlib import metadata

    for dist in _DISTRIBUTIONS.get(framework, ()):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def check_version(framework: str | None, version: str | None, what: str = "framework_version") -> None:
    """Refuse a version string that is no version at all (``'latest'`` means the installed one)."""
    if version is None or framework not in FRAMEWORK_LABELS or version == "latest":
        return
    if not _VERSION.match(str(version)):
        installed = installed_version(framework)
        example = ".".join(installed.split(".")[:2]) if installed else "2.16"
        raise ValidationError(f"{what} {version!r} is not a {FRAMEWORK_LABELS[framework]} version: give one "
                              f"such as {example!r}" + (f" (the installed {FRAMEWORK_LABELS[framework]})"
                                                        if installed else ""))


def check_py_version(py_version: str | None) -> None:
    if py_version is not None and not _PY_VERSION.match(str(py_version)):
        current = f"py{sys.version_info.major}{sys.version_info.minor}"
        raise ValidationError(f"py_version {py_version!r} is not a Python version: give 'py3' or one such as "
                              f"{current!r} (the Python jobs run with)")


def resolve_versions(owner: str, framework: str | None, framework_version: str | None,
                     py_version: str | None) -> None:
    """Check ``framework_version``/``py_version`` (garbage -> ValidationError) and, when they name
    something other than what is installed (``'2.1'`` from an old notebook, or a version newer
    than the installed one), say once what was asked and what runs: mlyard runs the installed
    framework and Python, whatever the notebook names. ``'py3'`` asks for any Python 3."""
    check_version(framework, framework_version)
    check_py_version(py_version)
    problems = []
    installed = installed_version(framework) if framework in FRAMEWORK_LABELS else None
    if framework_version not in (None, "latest") and installed is not None and framework is not None:
        asked = _VERSION.match(str(framework_version))
        have = _VERSION.match(installed.split("+")[0])
        if asked and have and (asked[1] != have[1] or (asked[2] is not None and asked[2] != have[2])):
            label = FRAMEWORK_LABELS[framework]
            note = ""
            if framework == "tensorflow" and (int(asked[1]), int(asked[2] or 0)) < (2, 16) <= (
                    int(have[1]), int(have[2] or 0)):
                note = ", with Keras 2 (tf-keras) as TensorFlow before 2.16 had"
            problems.append(f"{label} {framework_version} was asked; the installed {label} {installed} is used{note}")
    if py_version is not None:
        m = _PY_VERSION.match(py_version)
        assert m is not None  # checked above
        major, minor = int(m[1]), m[2]
        if major != sys.version_info.major or (minor and int(minor) != sys.version_info.minor):
            problems.append(f"Python {major}{'.' + minor if minor else ''} (py_version={py_version!r}) was asked; "
                            f"jobs run with Python {sys.version_info.major}.{sys.version_info.minor}")
    if problems:
        warn(f"{owner}: {'; '.join(problems)} (mlyard runs what is installed, not a container per version)")


def serving_instance_type(owner: str, instance_type: str | None, accelerator_type: str | None,
                          arguments: Mapping[str, Any]) -> str:
    """The instance type an endpoint variant runs on: ``instance_type``, or ``local`` for a
    serverless one (``serverless_inference_config`` in ``arguments``). Elastic Inference
    accelerators are refused (there are none locally), and so is a variant with no type."""
    if accelerator_type is not None:
        raise ValidationError(f"{owner}: accelerator_type {accelerator_type!r}: Elastic Inference accelerators do "
                              "not exist locally; leave it out (use instance_type='local_gpu' for a GPU)")
    if instance_type is None and arguments.get("serverless_inference_config") is not None:
        return "local"
    if instance_type is None:
        raise ValidationError(f"{owner}: instance_type is required ('local', 'local_gpu' or an ml.* type); "
                              "serverless inference runs on instances here")
    return instance_type
