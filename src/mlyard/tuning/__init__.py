"""Automatic model tuning in the control plane: search spaces, strategies (Optuna samplers and
pruners) and the study a tuning job's training jobs feed. ``mlyard.tuner`` is the SDK side."""

from mlyard.tuning.config import check_config
from mlyard.tuning.ranges import Range, Space
from mlyard.tuning.strategies import STRATEGIES, Strategy, strategy_for
from mlyard.tuning.study import Outcome, TuningStudy

__all__ = ["check_config", "Outcome", "Range", "STRATEGIES", "Space", "Strategy", "TuningStudy", "strategy_for"]
