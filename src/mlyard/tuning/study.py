"""One tuning job's Optuna study, fed with its training jobs' results.

The catalog is the record: the study lives in memory and is rebuilt from the training jobs
whenever the tuning job (re)starts, so a server restart re-runs no finished job.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import TrialState, create_trial

from mlyard.tuning.ranges import Space
from mlyard.tuning.strategies import Strategy

__all__ = ["TuningStudy", "Outcome"]


class Outcome:
    COMPLETE = "complete"  # ended with an objective value (the only outcome that has one)
    PRUNED = "pruned"  # stopped early by the strategy
    FAILED = "failed"  # failed, or reported no objective

    STATES = {COMPLETE: TrialState.COMPLETE, PRUNED: TrialState.PRUNED, FAILED: TrialState.FAIL}


class TuningStudy:
    def __init__(self, space: Space, strategy: Strategy, objective_type: str, seed: int | None,
                 max_jobs: int) -> None:
        self.space = space
        self.distributions = space.distributions()
        self.study = optuna.create_study(
            direction="maximize" if objective_type == "Maximize" else "minimize",
            sampler=strategy.sampler(seed, max_jobs), pruner=strategy.pruner())
        self.running: dict[str, optuna.trial.Trial] = {}
        self._reported: dict[str, int] = {}
        self._terminator: Any = None

    def add_finished(self, hyperparameters: dict[str, str], outcome: str, value: float | None,
                     intermediate: list[float]) -> bool:
        """Record a job that ended before this study existed (an earlier run of this tuning job,
        or a warm-start parent's). False when its hyperparameters lie outside this space."""
        params = self.space.params_from(hyperparameters)
        if params is None:
            return False
        steps = {i + 1: v for i, v in enumerate(intermediate) if math.isfinite(v)}
        self.study.add_trial(create_trial(
            state=Outcome.STATES[outcome], value=value if outcome == Outcome.COMPLETE else None, params=params,
            distributions=self.distributions, intermediate_values=steps if outcome != Outcome.FAILED else None))
        return True

    def resume(self, job_name: str, hyperparameters: dict[str, str]) -> None:
        """Follow a job that is still running, started by an earlier run of this tuning job."""
        params = self.space.params_from(hyperparameters) or {}
        self.study.enqueue_trial(params, skip_if_exists=False)
        self.running[job_name] = self.study.ask(self.distributions)

    def ask(self) -> tuple[optuna.trial.Trial, dict[str, str]]:
        """The next hyperparameters to try: the trial, and the job's hyperparameter strings."""
        trial = self.study.ask(self.distributions)
        return trial, self.space.hyperparameters(trial.params)

    def bind(self, job_name: str, trial: optuna.trial.Trial) -> None:
        self.running[job_name] = trial

    def abandon(self, trial: optuna.trial.Trial) -> None:
        """A trial whose job could not be created."""
        self.study.tell(trial, state=TrialState.FAIL)

    def report(self, job_name: str, values: list[float]) -> bool:
        """Report a running job's objective series (one value per epoch); True when the pruner says
        to stop it."""
        trial = self.running.get(job_name)
        if trial is None:
            return False
        done = self._reported.get(job_name, 0)
        new = False
        for step in range(done, len(values)):
            if math.isfinite(values[step]):
                trial.report(values[step], step + 1)
                new = True
        self._reported[job_name] = len(values)
        return new and trial.should_prune()

    def finish(self, job_name: str, outcome: str, value: float | None) -> None:
        trial = self.running.pop(job_name, None)
        self._reported.pop(job_name, None)
        if trial is not None:
            self.study.tell(trial, value if outcome == Outcome.COMPLETE else None, state=Outcome.STATES[outcome])

    def converged(self) -> bool:
        """Whether Optuna's terminator judges that more jobs are unlikely to improve the best: the
        Gaussian-process regret bound has fallen below a hundredth of its median over the first
        jobs (it needs torch, and 30 finished jobs before it says yes)."""
        if sum(t.state == TrialState.COMPLETE for t in self.study.trials) < 20:
            return False
        try:
            from optuna.terminator import MedianErrorEvaluator, RegretBoundEvaluator, Terminator

            if self._terminator is None:
                self._terminator = Terminator(improvement_evaluator=RegretBoundEvaluator(),
                                              error_evaluator=MedianErrorEvaluator(RegretBoundEvaluator()))
            return bool(self._terminator.should_terminate(self.study))
        except Exception:  # no torch, or too few distinct points: no verdict
            return False
