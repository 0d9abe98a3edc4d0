"""Checks of a tuning job's configuration that need nothing but the request: the SDK runs them
when a tuner is built, the control plane again when a tuning job is created."""

from __future__ import annotations

from typing import Any

from mlyard.errors import ValidationError
from mlyard.tuning.ranges import Space
from mlyard.tuning.strategies import Strategy, strategy_for

__all__ = ["check_config", "MAX_HYPERPARAMETERS"]

MAX_HYPERPARAMETERS = 100


def check_config(cfg: dict[str, Any], static: dict[str, str],
                 metric_names: list[str]) -> tuple[Space, Strategy, int]:
    """The search space, the strategy and MaxNumberOfTrainingJobs (as the strategy settles it) of
    a ``HyperParameterTuningJobConfig``; ValidationError, saying how to fix it, when it cannot run."""
    space = Space.from_request(cfg["ParameterRanges"])
    both = sorted(set(static) & set(space.by_name))
    if both:
        raise ValidationError(f"hyperparameters {both} are both static and tuned; remove them from the "
                              "estimator's hyperparameters (or from the ranges)")
    total = len(static) + len(space.ranges) + 1
    if total > MAX_HYPERPARAMETERS:
        raise ValidationError(f"{total} hyperparameters (static, tuned and _tuning_objective_metric); at most "
                              f"{MAX_HYPERPARAMETERS}")
    strategy = strategy_for(cfg, space, static)
    strategy.check()
    limits = cfg["ResourceLimits"]
    max_jobs = strategy.max_jobs(limits.get("MaxNumberOfTrainingJobs"))
    parallel = limits.get("MaxParallelTrainingJobs") or 1
    if parallel > max_jobs:
        raise ValidationError(f"max_parallel_jobs ({parallel}) is more than max_jobs ({max_jobs}); lower "
                              "max_parallel_jobs or raise max_jobs")
    metric = cfg["HyperParameterTuningJobObjective"]["MetricName"]
    if metric not in metric_names:
        raise ValidationError(
            f"the objective metric {metric!r} has no metric definition (there are: {', '.join(metric_names) or 'none'})"
            f"; add {{'Name': {metric!r}, 'Regex': ...}} to metric_definitions (the tuner's or the estimator's) so the "
            "tuner can read it from the training jobs' logs")
    return space, strategy, max_jobs
