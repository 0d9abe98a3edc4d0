"""Automatic model tuning in the control plane: search spaces, strategies (Optuna samplers and
pruners) and the study a tuning job's training jobs feed. ``mlyard.tuner`` is the SDK side.

The modules import Optuna only where a sampler, pruner or study is made, so the SDK can check a
tuning configuration (``tuning.config``) without it.
"""
