"""Automatic model tuning: tuning jobs of real training jobs, through the SDK, the HTTP API and the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import stop_local_server, wait_for, write_script

from mlyard.errors import UnexpectedStatusException, ValidationError
from mlyard.estimator import Estimator
from mlyard.tuner import (
    CategoricalParameter,
    ContinuousParameter,
    HyperbandStrategyConfig,
    HyperparameterTuner,
    IntegerParameter,
    StrategyConfig,
    TuningJobCompletionCriteriaConfig,
    WarmStartConfig,
    WarmStartTypes,
)

# Each training job reads its hyperparameters and prints "epoch N loss: V" once per epoch; the
# objective ("loss") is its last value.
OBJECTIVE_SCRIPT = """
import json, math, os, time

hp = json.loads(os.environ["SM_HPS"])
fn = hp.get("fn", "branin")
if fn == "branin":
    x1, x2 = float(hp["x1"]), float(hp["x2"])
    value = ((x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5 / math.pi * x1 - 6) ** 2
             + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)
else:
    value = float(str(hp["value"]).lstrip("bad"))
print("params " + json.dumps({k: v for k, v in hp.items() if k not in ("fn", "epochs", "pause")}), flush=True)
if str(hp.get("value", "")).startswith("bad"):
    print("epoch 1 loss: 0.0", flush=True)
    raise SystemExit("this job fails on purpose: value " + str(hp["value"]))
epochs = int(hp.get("epochs", 1))
for epoch in range(1, epochs + 1):
    time.sleep(float(hp.get("pause", 0)))
    print(f"epoch {epoch} loss: {value * (1 + (epochs - epoch) * 0.1):.6f}", flush=True)
"""
METRICS = [{"Name": "loss", "Regex": r"loss: ([0-9\.eE+-]+)"}]
BRANIN = {"x1": ContinuousParameter(-5, 10), "x2": ContinuousParameter(0, 15)}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    write_script(tmp_path / "src", "objective.py", OBJECTIVE_SCRIPT)
    return tmp_path / "src"


def _estimator(source: Path, session: Any, **hps: Any) -> Estimator:
    return Estimator(entry_point="objective.py", source_dir=str(source), role="r", instance_type="local",
                     sagemaker_session=session, hyperparameters=hps, metric_definitions=METRICS)


def _tuner(source: Path, session: Any, ranges: dict[str, Any], hps: dict[str, Any] | None = None,
           **kwargs: Any) -> HyperparameterTuner:
    kwargs.setdefault("objective_type", "Minimize")
    kwargs.setdefault("random_seed", 0)
    return HyperparameterTuner(_estimator(source, session, **(hps or {})), "loss", ranges, **kwargs)


def _summaries(tuner: HyperparameterTuner) -> list[dict[str, Any]]:
    return tuner.sagemaker_session.client.tuning_training_jobs(tuner.latest_tuning_job.name)


def _params(session: Any, job: str) -> dict[str, Any]:
    logs = b"".join(session.client.job_logs(job)).decode()
    line = next(ln for ln in logs.splitlines() if ln.startswith("params "))
    return json.loads(line[len("params "):])


def test_bayesian_tuning_runs_training_jobs_and_reports_like_sagemaker(session, source: Path) -> None:
    tuner = _tuner(source, session, BRANIN, {"fn": "branin", "epochs": 2}, max_jobs=8, max_parallel_jobs=2,
                   base_tuning_job_name="branin")
    tuner.fit()
    desc = tuner.describe()
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"] == {"Completed": 8, "InProgress": 0, "RetryableError": 0,
                                                 "NonRetryableError": 0, "Stopped": 0}
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 8, "Pending": 0, "Failed": 0}
    assert desc["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    assert desc["HyperParameterTuningEndTime"] >= desc["CreationTime"]
    summaries = _summaries(tuner)
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    best = desc["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {"Type": "Minimize", "MetricName": "loss",
                                                                   "Value": min(values)}
    assert tuner.best_training_job() == best["TrainingJobName"]
    # The objective is the metric's last value, and each job ran with what the tuner chose.
    for s in summaries:
        x1, x2 = float(s["TunedHyperParameters"]["x1"]), float(s["TunedHyperParameters"]["x2"])
        assert -5 <= x1 <= 10 and 0 <= x2 <= 15
        expected = ((x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5 / math.pi * x1 - 6) ** 2
                    + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)
        assert s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pytest.approx(expected, abs=1e-5)
    # Trials are training jobs of their own, tagged with their tuning job and the objective.
    job = session.describe_training_job(best["TrainingJobName"])
    assert job["TuningJobArn"].endswith(f"hyper-parameter-tuning-job/{tuner.latest_tuning_job.name}")
    assert job["HyperParameters"]["_tuning_objective_metric"] == "loss"  # as SageMaker injects it
    assert json.loads(job["HyperParameters"]["epochs"]) == 2
    assert best["TrainingJobName"].startswith(tuner.latest_tuning_job.name + "-")
    assert len(tuner.latest_tuning_job.name) <= 32 and tuner.latest_tuning_job.name.startswith("branin-")
    df = tuner.analytics().dataframe()
    assert len(df) == 8
    assert {"x1", "x2", "TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue", "TrainingStartTime",
            "TrainingEndTime", "TrainingElapsedTimeSeconds"} <= set(df.columns)
    assert df.sort_values("FinalObjectiveValue").iloc[0]["TrainingJobName"] == best["TrainingJobName"]


@pytest.mark.parametrize("strategy", ["Random", "TPE"])
def test_random_and_tpe_search_integer_and_categorical_ranges(session, source: Path, strategy: str) -> None:
    ranges = {"value": IntegerParameter(1, 40), "kind": CategoricalParameter(["a", "b"])}
    tuner = _tuner(source, session, ranges, {"fn": "value"}, strategy=strategy, max_jobs=6, max_parallel_jobs=3)
    tuner.fit()
    assert tuner.describe()["TrainingJobStatusCounters"]["Completed"] == 6
    for s in _summaries(tuner):
        params = _params(session, s["TrainingJobName"])
        assert isinstance(params["value"], int) and 1 <= params["value"] <= 40
        assert params["kind"] in ("a", "b")
        assert s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == params["value"]


def test_grid_tries_each_combination_once(session, source: Path) -> None:
    ranges = {"value": CategoricalParameter([1, 2, 3]), "kind": CategoricalParameter(["a", "b"])}
    tuner = _tuner(source, session, ranges, {"fn": "value"}, strategy="Grid", max_parallel_jobs=2)
    tuner.fit()
    desc = tuner.describe()
    assert desc["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    seen = sorted((p["value"], p["kind"]) for p in (_params(session, s["TrainingJobName"]) for s in _summaries(tuner)))
    assert seen == [(v, k) for v in (1, 2, 3) for k in ("a", "b")]
    assert desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 1.0


def test_scaling_types_shape_where_values_are_drawn(session, source: Path) -> None:
    ranges = {"lr": ContinuousParameter(1e-5, 1.0, scaling_type="Logarithmic"),
              "auto": ContinuousParameter(1e-5, 1.0),  # Auto: 5 orders of magnitude, so logarithmic
              "momentum": ContinuousParameter(0.0, 0.9999, scaling_type="ReverseLogarithmic"),
              "units": IntegerParameter(1, 1000, scaling_type="Logarithmic"),
              "value": ContinuousParameter(0.0, 10.0, scaling_type="Linear")}
    tuner = _tuner(source, session, ranges, {"fn": "value"}, strategy="Random", max_jobs=16, max_parallel_jobs=2)
    tuner.fit()
    drawn = [_params(session, s["TrainingJobName"]) for s in _summaries(tuner)]

    def median(key: str) -> float:
        return sorted(float(p[key]) for p in drawn)[len(drawn) // 2]

    assert all(1e-5 <= p["lr"] <= 1 and 0 <= p["momentum"] < 1 and 1 <= p["units"] <= 1000 for p in drawn)
    assert all(isinstance(p["units"], int) for p in drawn)
    # Uniform draws would put these medians near 0.5, 0.5, 500; log scales put them far lower,
    # the reverse log scale far higher.
    assert median("lr") < 0.05 and median("auto") < 0.05 and median("units") < 150
    assert median("momentum") > 0.95
    assert 1.0 < median("value") < 9.0


def test_early_stopping_stops_jobs_worse_than_the_median(session, source: Path) -> None:
    ranges = {"value": CategoricalParameter([1, 2, 3, 4, 5, 6, 7, 8])}
    tuner = _tuner(source, session, ranges, {"fn": "value", "epochs": 6, "pause": 0.25}, strategy="Grid",
                   early_stopping_type="Auto", max_parallel_jobs=1, random_seed=3)
    tuner.fit()
    summaries = _summaries(tuner)
    stopped = [s for s in summaries if s["EarlyStopped"]]
    assert stopped, [(s["TunedHyperParameters"], s["TrainingJobStatus"]) for s in summaries]
    completed = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries
                 if s["TrainingJobStatus"] == "Completed"]
    for s in stopped:
        assert s["TrainingJobStatus"] == "Stopped" and s["ObjectiveStatus"] == "Succeeded"
        job = session.describe_training_job(s["TrainingJobName"])
        assert any("Stopped early" in t["StatusMessage"] for t in job["SecondaryStatusTransitions"])
        # It ended well before its 6 epochs (1.5 s of pauses) were done.
        series = [m for m in session.client.job_metrics(s["TrainingJobName"], "loss")]
        assert len(series) < 6
    assert tuner.describe()["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(completed)
    assert tuner.describe()["TrainingJobStatusCounters"]["Stopped"] == len(stopped)


def test_hyperband_stops_weak_jobs_itself(session, source: Path) -> None:
    ranges = {"value": IntegerParameter(1, 100)}
    with pytest.raises(ValidationError, match="early_stopping_type='Off'"):
        _tuner(source, session, ranges, {"fn": "value", "epochs": 9}, strategy="Hyperband", max_jobs=9,
               early_stopping_type="Auto")
    tuner = _tuner(source, session, ranges, {"fn": "value", "epochs": 9, "pause": 0.1}, strategy="Hyperband",
                   max_jobs=12, max_parallel_jobs=2,
                   strategy_config=StrategyConfig(HyperbandStrategyConfig(min_resource=1)))
    tuner.fit()
    summaries = _summaries(tuner)
    assert len(summaries) == 12
    assert any(s["EarlyStopped"] for s in summaries)
    assert tuner.describe()["HyperParameterTuningJobStatus"] == "Completed"


def test_warm_start_seeds_the_search_with_the_parents_jobs(session, source: Path) -> None:
    parent = _tuner(source, session, BRANIN, {"fn": "branin"}, strategy="Random", max_jobs=5, max_parallel_jobs=2)
    parent.fit()
    parent_best = parent.describe()["BestTrainingJob"]
    child = parent.identical_dataset_and_algorithm_tuner()
    child.max_jobs, child.max_parallel_jobs, child.strategy = 2, 1, "TPE"
    child.fit()
    desc = child.describe()
    assert desc["WarmStartConfig"] == {"WarmStartType": "IdenticalDataAndAlgorithm",
                                       "ParentHyperParameterTuningJobs": [
                                           {"HyperParameterTuningJobName": parent.latest_tuning_job.name}]}
    assert desc["WarmStartSeedCount"] == 5
    assert desc["TrainingJobStatusCounters"]["Completed"] == 2
    value = desc["OverallBestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    own = desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert value == min(own, parent_best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    # Transfer learning: a narrower range keeps only the parents' jobs that fall inside it.
    narrow = {"x1": ContinuousParameter(-5, 2.5), "x2": ContinuousParameter(0, 15)}
    transfer = HyperparameterTuner(_estimator(source, session, fn="branin"), "loss", narrow, strategy="Random",
                                   objective_type="Minimize", max_jobs=1,
                                   warm_start_config=WarmStartConfig(WarmStartTypes.TRANSFER_LEARNING,
                                                                     {parent.latest_tuning_job.name}))
    transfer.fit()
    inside = sum(float(s["TunedHyperParameters"]["x1"]) <= 2.5 for s in _summaries(parent))
    desc = transfer.describe()
    assert desc["WarmStartSeedCount"] == inside and "OverallBestTrainingJob" not in desc
    # A parent must use the same objective.
    other = HyperparameterTuner(_estimator(source, session, fn="branin"), "loss", BRANIN, strategy="Random",
                                objective_type="Maximize", max_jobs=1,
                                warm_start_config=WarmStartConfig("TransferLearning", {parent.latest_tuning_job.name}))
    with pytest.raises(ValidationError, match="same objective"):
        other.fit()


def test_completion_criteria_end_the_tuning_job_early(session, source: Path) -> None:
    target = _tuner(source, session, {"value": IntegerParameter(1, 5)}, {"fn": "value"}, strategy="Random",
                    max_jobs=20, completion_criteria_config=TuningJobCompletionCriteriaConfig(
                        target_objective_metric_value=100.0))
    target.fit()
    desc = target.describe()
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"]["Completed"] == 1
    assert "target" in desc["StatusMessage"]
    flat = _tuner(source, session, {"value": CategoricalParameter(["7"]), "kind": IntegerParameter(1, 100)},
                  {"fn": "value"}, strategy="Random", max_jobs=20,
                  completion_criteria_config=TuningJobCompletionCriteriaConfig(
                      max_number_training_jobs_not_improving=3))
    flat.fit()
    desc = flat.describe()
    assert desc["TrainingJobStatusCounters"]["Completed"] == 4
    assert desc["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 3


def test_convergence_ends_a_bayesian_search_that_has_found_the_minimum(session, source: Path) -> None:
    # Branin's minimum is 0.397887; the search stops once more jobs are unlikely to improve on it.
    tuner = _tuner(source, session, BRANIN, {"fn": "branin"}, max_jobs=100,
                   completion_criteria_config=TuningJobCompletionCriteriaConfig(complete_on_convergence=True))
    tuner.fit()
    desc = tuner.describe()
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TuningJobCompletionDetails"]["ConvergenceDetectedTime"] is not None
    assert 20 <= desc["TrainingJobStatusCounters"]["Completed"] < 100
    assert desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] < 0.45


def test_failed_jobs_count_as_failures_not_as_the_best(session, source: Path) -> None:
    # The failing jobs print "loss: 0.0" before they fail: it must not make them the best.
    ranges = {"value": CategoricalParameter(["3", "5", "bad1", "bad2"])}
    tuner = _tuner(source, session, ranges, {"fn": "value"}, strategy="Grid", max_parallel_jobs=2)
    tuner.fit()
    desc = tuner.describe()
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 2, "Pending": 0, "Failed": 2}
    assert desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 3.0
    failed = [s for s in _summaries(tuner) if s["TrainingJobStatus"] == "Failed"]
    assert all("fails on purpose" in s["FailureReason"] for s in failed)
    # More than the allowed share failing fails the tuning job, with the jobs' own error.
    ranges = {"value": CategoricalParameter(["3", "bad1", "bad2", "bad3"])}
    tuner = _tuner(source, session, ranges, {"fn": "value"}, strategy="Grid", max_parallel_jobs=1)
    with pytest.raises(UnexpectedStatusException, match="3 of the tuning job's training jobs failed") as info:
        tuner.fit()
    assert "fails on purpose" in str(info.value)
    assert tuner.describe()["HyperParameterTuningJobStatus"] == "Failed"


def test_a_tuning_job_survives_a_server_restart_without_rerunning_jobs(session, home: Path, source: Path) -> None:
    tuner = _tuner(source, session, {"value": IntegerParameter(1, 9)}, {"fn": "value", "epochs": 2, "pause": 0.4},
                   strategy="Random", max_jobs=5, max_parallel_jobs=1)
    tuner.fit(wait=False)
    name = tuner.latest_tuning_job.name
    client = session.client
    wait_for(lambda: sum(s["TrainingJobStatus"] == "Completed" for s in client.tuning_training_jobs(name)) >= 2,
             timeout=60)
    before = {s["TrainingJobName"]: s for s in client.tuning_training_jobs(name)}
    stop_local_server(home, tree=False)  # the server dies; the running job's runner lives on
    attached = HyperparameterTuner.attach(name, sagemaker_session=session)
    attached.wait()
    after = client.tuning_training_jobs(name)
    assert len(after) == 5 and len({s["TrainingJobName"] for s in after}) == 5
    for job, s in before.items():
        if s["TrainingJobStatus"] == "Completed":
            again = next(a for a in after if a["TrainingJobName"] == job)
            assert again["TrainingEndTime"] == s["TrainingEndTime"]
    desc = attached.describe()
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"]["Completed"] == 5
    assert attached.objective_metric_name == "loss" and attached.max_jobs == 5
    assert isinstance(attached._hyperparameter_ranges["value"], IntegerParameter)
    # An attached tuner warm-starts another, which runs its jobs as the attached one defined them.
    child = attached.identical_dataset_and_algorithm_tuner()
    child.max_jobs, child.max_parallel_jobs = 1, 1
    child.fit()
    desc = child.describe()
    assert desc["HyperParameterTuningJobStatus"] == "Completed" and desc["WarmStartSeedCount"] == 5
    assert json.loads(session.describe_training_job(desc["BestTrainingJob"]["TrainingJobName"])
                      ["HyperParameters"]["pause"]) == 0.4


def test_stop_and_the_cli(session, home: Path, source: Path) -> None:
    tuner = _tuner(source, session, {"value": IntegerParameter(1, 9)}, {"fn": "value", "epochs": 40, "pause": 0.5},
                   strategy="Random", max_jobs=4, max_parallel_jobs=2, base_tuning_job_name="stopme")
    tuner.fit(wait=False)
    name = tuner.latest_tuning_job.name
    cli = [sys.executable, "-m", "mlyard", "tuning"]
    wait_for(lambda: tuner.describe()["TrainingJobStatusCounters"]["InProgress"] >= 2, timeout=60)
    wide = {**os.environ, "COLUMNS": "250"}
    listed = subprocess.run([*cli, "list"], capture_output=True, text=True, check=True, env=wide).stdout
    assert name in listed and "InProgress" in listed
    shown = subprocess.run([*cli, "describe", name], capture_output=True, text=True, check=True, env=wide).stdout
    assert f"{name}-001-" in shown and f"{name}-002-" in shown
    watch = subprocess.Popen([*cli, "describe", name, "--watch"], stdout=subprocess.PIPE, text=True, env=wide)
    stopped = subprocess.run([*cli, "stop", name], capture_output=True, text=True, check=True).stdout
    assert "Stopping" in stopped
    tuner.wait()
    out, _ = watch.communicate(timeout=30)  # the live table ends when the tuning job does
    assert watch.returncode == 0 and "Stopped" in out and f"{name}-001-" in out
    desc = tuner.describe()
    assert desc["HyperParameterTuningJobStatus"] == "Stopped"
    assert desc["TrainingJobStatusCounters"]["Stopped"] == 2
    assert len(_summaries(tuner)) == 2
    gone = subprocess.run([*cli, "describe", "no-such-tuning"], capture_output=True, text=True)
    assert gone.returncode == 1 and "no tuning job named 'no-such-tuning'" in gone.stderr


def test_bad_input_is_refused_before_any_job_starts(session, source: Path) -> None:
    def tuner(ranges: dict[str, Any], **kwargs: Any) -> HyperparameterTuner:
        return _tuner(source, session, ranges, {"fn": "value"}, **kwargs)

    cases = [
        (lambda: tuner({"value": ContinuousParameter(5, 5)}), "MinValue \\(5\\) must be less than MaxValue"),
        (lambda: tuner({"value": IntegerParameter(9, 2)}), "MinValue \\(9\\) must be less than MaxValue"),
        (lambda: tuner({"value": ContinuousParameter(0, 1, scaling_type="Logarithmic")}), "includes 0"),
        (lambda: tuner({"value": ContinuousParameter(0, 1.5, scaling_type="ReverseLogarithmic")}), "MaxValue < 1"),
        (lambda: tuner({"value": CategoricalParameter([])}), "needs at least one value"),
        (lambda: tuner({"value": IntegerParameter(1, 5)}, max_jobs=2, max_parallel_jobs=3),
         "max_parallel_jobs \\(3\\) is more than max_jobs \\(2\\)"),
        (lambda: tuner({"value": IntegerParameter(1, 5)}, strategy="Grid"), "Grid strategy searches categorical"),
        (lambda: tuner({"value": CategoricalParameter([1, 2])}, strategy="Grid", max_jobs=3), "set it to 2"),
        (lambda: tuner({"value": IntegerParameter(1, 5)}, strategy="Hyperband"), "needs MaxResource"),
        (lambda: _tuner(source, session, {"value": IntegerParameter(1, 5)}, {"epochs": float("inf")},
                        strategy="Hyperband"), "needs MaxResource"),
        (lambda: tuner({"value": ContinuousParameter(-1e308, 1e308)}), "too wide"),
        (lambda: tuner({"value": IntegerParameter(1, 5)}, hyperparameters_to_keep_static=["fn"]), "autotune"),
        (lambda: tuner({f"p{i}": CategoricalParameter(list(range(10))) for i in range(5)}, strategy="Grid"),
         "100000 combinations"),
        (lambda: tuner({"value": IntegerParameter(1, 5)}, strategy="Simulated"), "is not one of"),
        (lambda: HyperparameterTuner(_estimator(source, session), "accuracy", {"value": IntegerParameter(1, 5)}),
         "objective metric 'accuracy' has no metric definition"),
    ]
    for make, message in cases:
        with pytest.raises(ValidationError, match=message):
            make()
    # The server refuses the same, with a 400 and a JSON body, whoever sends it.
    good = _tuner(source, session, {"value": IntegerParameter(1, 5)}, {"fn": "value"}, max_jobs=2)
    request = good._request("badrequest", None, False)
    request["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"] = [
        {"Name": "lr", "MinValue": "0", "MaxValue": "0.1", "ScalingType": "Logarithmic"}]
    client = session.client
    r = httpx.post(f"{client.url}/v1/tuning-jobs", json=request, headers={"Authorization": f"Bearer {client.token}"})
    assert r.status_code == 400 and "includes 0" in r.json()["message"]
    request = good._request("badrequest2", None, False)
    request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"] = []
    r = httpx.post(f"{client.url}/v1/tuning-jobs", json=request, headers={"Authorization": f"Bearer {client.token}"})
    assert r.status_code == 400 and "no metric definition" in r.json()["message"]
    for change, message in [
            (lambda r: r["HyperParameterTuningJobConfig"].update(RandomSeed=-1), "RandomSeed"),
            (lambda r: r["HyperParameterTuningJobConfig"].update(
                TuningJobCompletionCriteria={"TargetObjectiveMetricValue": float("nan")}), "finite"),
            (lambda r: r.update(WarmStartConfig={
                "WarmStartType": "TransferLearning",
                "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "no-such-parent"}]}),
             "'no-such-parent' does not exist")]:
        request = good._request("badrequest3", None, False)
        change(request)
        r = httpx.post(f"{client.url}/v1/tuning-jobs", content=json.dumps(request),
                       headers={"Authorization": f"Bearer {client.token}", "Content-Type": "application/json"})
        assert r.status_code == 400 and message in r.json()["message"], r.text
    assert client.list_jobs() == [] and client.list_tuning_jobs() == []


def test_deploy_the_best_model_of_a_scikit_learn_tuning_job(session, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    import numpy as np
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    from mlyard.sklearn import SKLearn

    x, y = load_diabetes(return_X_y=True)
    raw = tmp_path / "data"
    raw.mkdir()
    np.savetxt(raw / "train.csv", np.column_stack([y[:300], x[:300]]), delimiter=",")
    np.savetxt(raw / "test.csv", np.column_stack([y[300:], x[300:]]), delimiter=",")
    # The model serves with this script as its inference code (SageMaker's scikit-learn models do):
    # imported by the model server, it trains only when run as a script.
    write_script(tmp_path / "src", "train.py", """
        import argparse, os
        import joblib, numpy as np
        from sklearn.linear_model import Ridge

        if __name__ == "__main__":
            p = argparse.ArgumentParser()
            p.add_argument("--alpha", type=float, default=1.0)
            args, _ = p.parse_known_args()
            train = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv"), delimiter=",")
            test = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "test.csv"), delimiter=",")
            model = Ridge(alpha=args.alpha).fit(train[:, 1:], train[:, 0])
            print(f"val_mse: {np.mean((model.predict(test[:, 1:]) - test[:, 0]) ** 2):.4f}")
            joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    """)
    est = SKLearn(entry_point="train.py", source_dir=str(tmp_path / "src"), framework_version="1.5",
                  instance_type="local", role="r",
                  metric_definitions=[{"Name": "val_mse", "Regex": r"val_mse: ([0-9.]+)"}])
    tuner = HyperparameterTuner(est, "val_mse", {"alpha": ContinuousParameter(1e-4, 10.0, "Logarithmic")},
                                objective_type="Minimize", max_jobs=4, max_parallel_jobs=2, random_seed=0)
    tuner.fit({"train": str(raw)})
    best = tuner.best_estimator()
    assert best.latest_training_job is not None and best.latest_training_job.name == tuner.best_training_job()
    alpha = float(tuner.describe()["BestTrainingJob"]["TunedHyperParameters"]["alpha"])
    assert best.hyperparameters()["alpha"] == alpha
    predictor = tuner.deploy(initial_instance_count=1, instance_type="local")
    try:
        got = np.asarray(predictor.predict(x[300:305])).ravel()
    finally:
        predictor.delete_endpoint()
    expected = Ridge(alpha=alpha).fit(x[:300], y[:300]).predict(x[300:305])
    assert np.allclose(got, expected, rtol=1e-4)
