"""The SDK's import graph: one direction (estimator -> model -> predictor / transformer), and none
of the control plane's or the runners' modules, nor the packages only the server needs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SDK = ["session", "estimator", "model", "predictor", "transformer", "processing", "tuner", "analytics", "inputs",
       "serializers", "deserializers", "model_monitor", "tensorflow", "pytorch", "sklearn", "utils", "jobs", "s3",
       "image_uris", "local", "exceptions", "compat"]
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


def test_building_a_tuner_checks_its_configuration_without_optuna() -> None:
    """The SDK checks a tuning configuration when a tuner is built (bad ranges fail at once), with
    the control plane's own checks, and still imports no Optuna: only the server runs a study."""
    code = ("import sys\n"
            "from mlyard.estimator import Estimator\n"
            "from mlyard.errors import ValidationError\n"
            "from mlyard.tuner import HyperparameterTuner, ContinuousParameter, CategoricalParameter\n"
            "est = Estimator(entry_point='train.py', instance_type='local', role='r')\n"
            "defs = [{'Name': 'loss', 'Regex': 'loss: (\\S+)'}]\n"
            "HyperparameterTuner(est, 'loss', {'lr': ContinuousParameter(0.01, 1)}, defs, max_jobs=4)\n"
            "try:\n"
            "    HyperparameterTuner(est, 'loss', {'lr': ContinuousParameter(0.01, 1)}, defs, strategy='Grid')\n"
            "except ValidationError as exc:\n"
            "    print('refused:', exc)\n"
            "print('optuna' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "refused: the Grid strategy searches categorical ranges only" in out
    assert out.strip().endswith("False"), out


@pytest.mark.parametrize("module", ["model", "predictor", "transformer", "processing", "jobs", "utils", "session"])
def test_lower_sdk_modules_never_import_the_estimator(module: str) -> None:
    loaded = _loaded_after(module)
    assert f"mlyard.{module}" in loaded
    assert "mlyard.estimator" not in loaded


def test_predictor_and_transformer_do_not_import_the_model() -> None:
    for module in ("predictor", "transformer"):
        assert "mlyard.model" not in _loaded_after(module)


def test_lower_sdk_modules_import_no_higher_one_even_lazily() -> None:
    """The one-way rule holds for imports inside functions too (run only when called, so the
    module-loading tests above cannot see them): predictor, transformer and jobs never import the
    model, and none of the modules below the estimator imports it. (``session`` makes the job
    objects of each kind on demand, so it is left out.)"""
    import re
    from pathlib import Path

    import mlyard

    src = Path(mlyard.__file__).parent
    higher = {"predictor.py": ("model", "estimator"), "transformer.py": ("model", "estimator"),
              "jobs.py": ("model", "estimator", "predictor", "transformer", "processing", "tuner"),
              "model.py": ("estimator",), "processing.py": ("estimator",)}
    found = []
    for name, modules in higher.items():
        text = (src / name).read_text()
        for module in modules:
            pattern = (rf"^\s*(from\s+mlyard\.{module}\s+import|import\s+mlyard\.{module}\b"
                       rf"|from\s+mlyard\s+import\s+.*\b{module}\b)")
            found += [f"{name}: {m.group(0).strip()}" for m in re.finditer(pattern, text, re.MULTILINE)]
    assert found == []
