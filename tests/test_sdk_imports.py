"""The SDK's import graph: one direction (estimator -> model -> predictor / transformer), and none
of the control plane's or the runners' modules, nor the packages only the server needs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SDK = ["session", "estimator", "model", "predictor", "transformer", "processing", "tuner", "analytics", "inputs",
       "serializers", "deserializers", "model_monitor", "tensorflow", "pytorch", "sklearn", "utils", "jobs"]
SERVER_ONLY = ("mlyard.runtime", "mlyard.server", "optuna", "sqlalchemy", "alembic", "fastapi", "uvicorn")


def _loaded_after(*modules: str) -> list[str]:
    """The modules a fresh interpreter holds after importing ``mlyard.<m>`` for each of ``modules``."""
    code = ("import importlib, json, sys\n"
            f"for m in {list(modules)!r}: importlib.import_module('mlyard.' + m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def test_sdk_imports_no_server_runtime_or_optuna() -> None:
    loaded = _loaded_after(*SDK)
    assert "mlyard.estimator" in loaded and "mlyard.jobs" in loaded  # the imports did run
    assert [m for m in loaded if m.startswith(SERVER_ONLY)] == []


@pytest.mark.parametrize("module", ["model", "predictor", "transformer", "processing", "jobs", "utils", "session"])
def test_lower_sdk_modules_never_import_the_estimator(module: str) -> None:
    loaded = _loaded_after(module)
    assert f"mlyard.{module}" in loaded
    assert "mlyard.estimator" not in loaded


def test_predictor_and_transformer_do_not_import_the_model() -> None:
    for module in ("predictor", "transformer"):
        assert "mlyard.model" not in _loaded_after(module)
