"""Search strategies: which Optuna sampler proposes the next hyperparameters, and which pruner
stops weak training jobs early.

| strategy  | sampler                                   | stops jobs early                    |
|-----------|-------------------------------------------|-------------------------------------|
| Bayesian  | GPSampler (Gaussian process, needs torch) | median rule when early stopping Auto |
| TPE       | TPESampler                                | median rule when early stopping Auto |
| Random    | RandomSampler                             | median rule when early stopping Auto |
| Grid      | GridSampler (categorical ranges only)     | median rule when early stopping Auto |
| Hyperband | TPESampler                                | HyperbandPruner, always             |
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from mlyard.errors import ValidationError
from mlyard.tuning.ranges import Space

if TYPE_CHECKING:
    import optuna

__all__ = ["Strategy", "strategy_for", "STRATEGIES", "EPOCH_NAMES"]

MAX_JOBS = 10000
MAX_RESOURCE = 20000
# Static hyperparameters that give Hyperband its MaxResource when the config does not.
EPOCH_NAMES = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")


class Strategy(ABC):
    """How a tuning job searches. ``check`` runs before any job starts; ``sampler`` and ``pruner``
    are built each time the study is (on creation and on every resume)."""

    name = ""

    def __init__(self, space: Space, config: dict[str, Any], static: dict[str, str]) -> None:
        self.space = space
        self.config = config
        self.static = static
        self.early_stopping = config.get("TrainingJobEarlyStoppingType") or "Off"

    def check(self) -> None:  # noqa: B027 - most strategies suit any settings
        """Raise ValidationError when the job's settings do not suit this strategy."""

    def check_runtime(self) -> None:  # noqa: B027 - most strategies need nothing more
        """Raise ValidationError when the server lacks what this strategy needs."""

    def max_jobs(self, given: int | None) -> int:
        return given or 1

    @abstractmethod
    def sampler(self, seed: int | None, max_jobs: int) -> optuna.samplers.BaseSampler: ...

    def pruner(self) -> optuna.pruners.BasePruner:
        import optuna

        if self.early_stopping == "Auto":
            # SageMaker's median rule: stop a job whose objective so far is worse than the median
            # of earlier jobs at the same epoch, once 3 jobs have finished.
            return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
        return optuna.pruners.NopPruner()


class Bayesian(Strategy):
    name = "Bayesian"

    def check_runtime(self) -> None:
        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("scipy") is None:
            raise ValidationError("the Bayesian strategy uses Optuna's Gaussian-process sampler, which needs "
                                  "PyTorch and SciPy on the server: pip install 'mlyard[tuning]', "
                                  "or choose strategy='TPE' or 'Random'")

    def sampler(self, seed: int | None, max_jobs: int) -> optuna.samplers.BaseSampler:
        import optuna

        # Few random starting points: small budgets are where the model pays off (2 of 15 jobs).
        startup = min(10, max(2, max_jobs // 8))
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup, warn_independent_sampling=False)


class TPE(Strategy):
    name = "TPE"

    def sampler(self, seed: int | None, max_jobs: int) -> optuna.samplers.BaseSampler:
        import optuna

        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, max_jobs // 5)),
                                          warn_independent_sampling=False)


class Random(Strategy):
    name = "Random"

    def sampler(self, seed: int | None, max_jobs: int) -> optuna.samplers.BaseSampler:
        import optuna

        return optuna.samplers.RandomSampler(seed=seed)


def _grid_sampler(grid: dict[str, list[str]], seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    class _GridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study: optuna.Study, trial: Any, state: Any, values: Any) -> None:
            # Optuna's grid sampler stops the study once the grid is done, which only works inside
            # Study.optimize; the tuning job stops itself at MaxNumberOfTrainingJobs (the grid's size).
            return None

    return _GridSampler(grid, seed=seed)


class Grid(Strategy):
    name = "Grid"

    def check(self) -> None:
        other = [r.name for r in self.space.ranges if r.kind != "Categorical"]
        if other:
            raise ValidationError(f"the Grid strategy searches categorical ranges only; {other} are not "
                                  "categorical: make them CategoricalParameter(values) or choose another strategy")

    def max_jobs(self, given: int | None) -> int:
        size = self.space.grid_size()
        if size > MAX_JOBS:
            raise ValidationError(f"the grid has {size} combinations; a tuning job runs at most {MAX_JOBS} "
                                  "training jobs: use fewer values, or the Random or Bayesian strategy")
        if given is not None and given != size:
            raise ValidationError(f"with the Grid strategy max_jobs is the number of combinations ({size}); "
                                  f"leave it out, or set it to {size}, not {given}")
        return size

    def sampler(self, seed: int | None, max_jobs: int) -> optuna.samplers.BaseSampler:
        return _grid_sampler(self.space.grid(), seed)


class Hyperband(TPE):
    name = "Hyperband"

    def check(self) -> None:
        if self.early_stopping != "Off":
            raise ValidationError("the Hyperband strategy stops weak jobs itself: set early_stopping_type='Off'")
        lo, hi = self.resources()
        if lo > hi:
            raise ValidationError(f"HyperbandStrategyConfig: MinResource ({lo}) must not exceed MaxResource ({hi})")

    def resources(self) -> tuple[int, int]:
        cfg = ((self.config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig")) or {}
        high = cfg.get("MaxResource")
        if high is None:
            for key in EPOCH_NAMES:
                if key in self.static:
                    try:
                        high = int(float(self.static[key]))
                    except (ValueError, OverflowError):
                        continue
                    if not 1 <= high <= MAX_RESOURCE:
                        raise ValidationError(f"the Hyperband strategy takes MaxResource from the static "
                                              f"hyperparameter {key!r} = {self.static[key]}, which must be from 1 "
                                              f"to {MAX_RESOURCE}")
                    break
        if high is None:
            raise ValidationError("the Hyperband strategy needs MaxResource (the most epochs a job runs): set "
                                  "HyperbandStrategyConfig(max_resource=...), or a static hyperparameter "
                                  f"named one of {', '.join(EPOCH_NAMES)}")
        return int(cfg.get("MinResource") or 1), int(high)

    def pruner(self) -> optuna.pruners.BasePruner:
        import optuna

        lo, hi = self.resources()
        return optuna.pruners.HyperbandPruner(min_resource=lo, max_resource=hi, reduction_factor=3)


STRATEGIES: dict[str, type[Strategy]] = {s.name: s for s in (Bayesian, TPE, Random, Grid, Hyperband)}


def strategy_for(config: dict[str, Any], space: Space, static: dict[str, str]) -> Strategy:
    name = config.get("Strategy") or "Bayesian"
    if name not in STRATEGIES:
        raise ValidationError(f"strategy {name!r} is not one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name](space, config, static)
