"""Checks of what a user names and passes to a job, run by the SDK before anything is uploaded
and by the server again (a request may come from any client). They follow SageMaker's limits, so
what passes here also passes there; what fails would otherwise fail late (an argument list the
kernel refuses, a name that is not a URL path segment)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlyard.errors import ValidationError

__all__ = ["NAME_PATTERN", "MapLimits", "HYPERPARAMETERS", "TRAINING_ENVIRONMENT", "PROCESSING_ENVIRONMENT",
           "TRANSFORM_ENVIRONMENT", "MODEL_ENVIRONMENT", "HYPERPARAMETERS_JSON_MAX", "check_name",
           "check_map", "check_hyperparameters", "check_strings", "check_count"]

# SageMaker's pattern for every resource name (jobs, models, endpoint configurations, endpoints).
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
_NAME_CHARS = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")


@dataclass(frozen=True)
class MapLimits:
    """SageMaker's limits of a string map: entries, and characters per key and per value."""

    items: int
    key: int
    value: int


HYPERPARAMETERS = MapLimits(100, 256, 2500)
TRAINING_ENVIRONMENT = MapLimits(100, 512, 512)
PROCESSING_ENVIRONMENT = MapLimits(100, 256, 256)
TRANSFORM_ENVIRONMENT = MapLimits(16, 1024, 10240)
MODEL_ENVIRONMENT = MapLimits(100, 1024, 1024)
# The user's hyperparameters reach the script as single environment variables (SM_HPS,
# SM_TRAINING_ENV, SM_USER_ARGS), and Linux refuses any one variable over 128 KiB; so, beside
# SageMaker's per-entry limits, their JSON (as the script gets it) is kept well under that.
HYPERPARAMETERS_JSON_MAX = 64 * 1024


def check_name(what: str, name: Any, max_length: int = 63) -> str:
    """``name`` if it is a valid resource name: letters, digits and hyphens, starting and ending
    with a letter or digit, at most ``max_length`` characters."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{what} must be a non-empty string, not {name!r}")
    if len(name) > max_length:
        raise ValidationError(f"{what} {name[:80]!r}{'...' if len(name) > 80 else ''} is {len(name)} characters "
                              f"long; the limit is {max_length}")
    if not _NAME_CHARS.match(name):
        raise ValidationError(f"{what} {name!r} is not valid: use only letters, digits and hyphens, starting and "
                              f"ending with a letter or digit (pattern {NAME_PATTERN})")
    return name


def check_map(what: str, mapping: Mapping[str, Any], limits: MapLimits) -> None:
    """A string map within ``limits``; ``what`` names its entries ("hyperparameter", ...)."""
    if len(mapping) > limits.items:
        raise ValidationError(f"{len(mapping)} {what}s given; the limit is {limits.items}")
    for key, value in mapping.items():
        key = str(key)
        if not key or "=" in key or any(ord(c) < 32 for c in key):
            raise ValidationError(f"{what} name {key[:80]!r} is not valid: it must be non-empty, without '=' or "
                                  "control characters")
        if len(key) > limits.key:
            raise ValidationError(f"{what} name {key[:40]!r}... is {len(key)} characters long; the limit is "
                                  f"{limits.key}")
        if is_variable(value):
            continue
        text = value if isinstance(value, str) else str(value)
        if len(text) > limits.value:
            raise ValidationError(f"{what} {key[:80]!r} has a value of {len(text)} characters; the limit is "
                                  f"{limits.value}. Pass large values as a file in an input channel instead")
        if "\x00" in text:
            raise ValidationError(f"{what} {key[:80]!r} has a NUL character in its value, which no process "
                                  "can be given")


def check_hyperparameters(hps: Mapping[str, str]) -> None:
    """Hyperparameters as a request holds them (string values, JSON-encoded by the SDK)."""
    check_map("hyperparameter", hps, HYPERPARAMETERS)
    user = {}
    for key, value in hps.items():
        if key.startswith("sagemaker_") or key == "_tuning_objective_metric":
            continue
        if is_variable(value):
            continue
        try:
            user[key] = json.loads(value)
        except (TypeError, ValueError):
            user[key] = value
        except RecursionError:
            raise ValidationError(f"hyperparameter {key[:80]!r} is nested too deeply; pass a flat value, or the "
                                  "structure as a file in an input channel") from None
    size = len(json.dumps(user, sort_keys=True, separators=(",", ":")).encode())
    if size > HYPERPARAMETERS_JSON_MAX:
        raise ValidationError(f"the hyperparameters take {size} bytes as JSON; the limit is "
                              f"{HYPERPARAMETERS_JSON_MAX}. Pass large values as a file in an input channel instead")


def check_strings(what: str, items: Iterable[Any], max_items: int, max_length: int) -> None:
    """A list of strings that becomes a command line (entry point, arguments)."""
    items = list(items)
    if len(items) > max_items:
        raise ValidationError(f"{len(items)} {what} given; the limit is {max_items}")
    for i, item in enumerate(items):
        if is_variable(item):
            continue
        text = str(item)
        if len(text) > max_length:
            raise ValidationError(f"{what}[{i}] is {len(text)} characters long; the limit is {max_length}")
        if "\x00" in text:
            raise ValidationError(f"{what}[{i}] has a NUL character, which no process can be given")


def is_variable(value: Any) -> bool:
    """A pipeline variable (a parameter, a step's property...): its value is checked when the
    pipeline runs, by the same server-side checks."""
    from mlyard.workflow.entities import PipelineVariable

    return isinstance(value, PipelineVariable)


def check_count(what: str, count: Any) -> int:
    """An instance count: an integer of at least 1 (or a pipeline variable)."""
    if is_variable(count):
        return count
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationError(f"{what} must be an integer of at least 1, not {count!r}")
    return count
