"""Tuning jobs in the control plane.

Each active tuning job has a driver thread: it asks the job's Optuna study for hyperparameters,
starts training jobs through the scheduler (at most MaxParallelTrainingJobs at once), feeds each
job's objective back, stops weak jobs early, and ends the tuning job. Everything it decides is in
the catalog (the training jobs carry their tuning job as ``parent``), so after a server restart a
new driver rebuilds the study from the jobs and goes on without re-running any.
"""

from __future__ import annotations

import copy
import json
import math
import secrets
import threading
import time
import traceback
import warnings
from typing import TYPE_CHECKING, Any

import optuna

from mlyard import store
from mlyard.catalog import Objects
from mlyard.errors import ConflictError, MlyardError, NotFoundError, ValidationError
from mlyard.runtime.state import TERMINAL
from mlyard.server.controllers import Controller
from mlyard.server.describe import arn, iso
from mlyard.tuning.config import check_config
from mlyard.tuning.ranges import Space
from mlyard.tuning.strategies import Strategy, strategy_for
from mlyard.tuning.study import Outcome, TuningStudy

if TYPE_CHECKING:
    from mlyard.server.control import ControlPlane

__all__ = ["Tunings"]

KIND = "tuning-job"
MAX_PARENTS = 5

# The server's log is the operator's: Optuna's per-trial chatter and experimental-API notices are not.
optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


class Tunings(Controller):
    """Tuning jobs: one driver thread per running tuning job, which launches its training jobs and
    follows them (a controller of the control plane)."""

    kind = KIND

    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self.catalog = control.catalog
        self.objects = Objects(control.catalog)
        self._lock = threading.Lock()
        self._drivers: dict[str, _Driver] = {}
        self.closing = threading.Event()

    # -- API ------------------------------------------------------------------------------------
    def create(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["HyperParameterTuningJobName"]
        cfg = req["HyperParameterTuningJobConfig"]
        definition = req["TrainingJobDefinition"]
        static = definition["StaticHyperParameters"]
        if cfg["ParameterRanges"].pop("AutoParameters", None):
            raise ValidationError("AutoParameters (autotune) is not supported: give the hyperparameter ranges")
        metrics = [d["Name"] for d in definition["AlgorithmSpecification"].get("MetricDefinitions") or []]
        space, strategy, max_jobs = check_config(cfg, static, metrics)
        strategy.check_runtime()
        cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"] = max_jobs
        objective = cfg["HyperParameterTuningJobObjective"]
        if req.get("WarmStartConfig"):
            self._check_parents(name, req["WarmStartConfig"], objective)
        # Check the training job definition now, as its first job would be, so nothing starts
        # with a definition that cannot run.
        probe = _trial_request(req, f"{name}-000-check", {r.name: "0" for r in space.ranges})
        self.control.check_training_job(probe)
        self.objects.insert(KIND, name, req, {"status": "InProgress", "early_stopped": []}, what="tuning job")
        self._start_driver(name)
        self.control.notify()
        return self.describe(name)

    def _check_parents(self, name: str, warm: dict[str, Any], objective: dict[str, Any]) -> None:
        parents = list(dict.fromkeys(p["HyperParameterTuningJobName"] for p in warm["ParentHyperParameterTuningJobs"]))
        warm["ParentHyperParameterTuningJobs"] = [{"HyperParameterTuningJobName": p} for p in parents]
        if len(parents) > MAX_PARENTS:
            raise ValidationError(f"{len(parents)} parent tuning jobs; a warm start takes at most {MAX_PARENTS}")
        for parent in parents:
            if parent == name:
                raise ValidationError("a tuning job cannot be its own warm-start parent")
            try:
                row = self.objects.get(KIND, parent, "tuning job")
            except NotFoundError:
                raise ValidationError(f"warm-start parent {parent!r} does not exist; `mlyard tuning list` shows "
                                      "the tuning jobs there are") from None
            status = row["state"]["status"]
            if status not in TERMINAL:
                raise ValidationError(f"warm-start parent {parent!r} is {status}; a parent must have ended "
                                      "(wait for it, or stop it)")
            theirs = row["spec"]["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
            if theirs != objective:
                raise ValidationError(f"warm-start parent {parent!r} has the objective {theirs['Type']} "
                                      f"{theirs['MetricName']!r}; a warm start needs the same objective "
                                      f"({objective['Type']} {objective['MetricName']!r})")

    def describe(self, name: str) -> dict[str, Any]:
        row = self.objects.get(KIND, name, "tuning job")
        trials = self._trials(row)
        return _describe(row, trials, self._overall_best(row, trials))

    def list_jobs(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        out = []
        for row in self.objects.list(KIND):
            if status and row["state"]["status"] != status:
                continue
            desc = _describe(row, self._trials(row), None)
            out.append({k: desc.get(k) for k in (
                "HyperParameterTuningJobName", "HyperParameterTuningJobArn", "HyperParameterTuningJobStatus",
                "Strategy", "CreationTime", "HyperParameterTuningEndTime", "LastModifiedTime",
                "TrainingJobStatusCounters", "ObjectiveStatusCounters", "ResourceLimits", "BestTrainingJob")})
            if len(out) >= limit:
                break
        return out

    def training_jobs(self, name: str) -> list[dict[str, Any]]:
        row = self.objects.get(KIND, name, "tuning job")
        return [t.summary() for t in self._trials(row)]

    def stop(self, name: str) -> dict[str, Any]:
        with self._lock:
            row = self.objects.get(KIND, name, "tuning job")
            status = row["state"]["status"]
            if status in TERMINAL:
                raise ConflictError(f"tuning job {name!r} already ended ({status}); there is nothing to stop")
            self._set_state(name, status="Stopping")
        self._start_driver(name)  # a driver stops the training jobs and ends the tuning job
        self.control.notify()
        return self.describe(name)

    def exists(self, name: str) -> bool:
        try:
            self.objects.get(KIND, name)
            return True
        except NotFoundError:
            return False

    # -- lifecycle ------------------------------------------------------------------------------
    def resume(self) -> None:
        """After a (re)start: drive every tuning job that had not ended."""
        for row in self.objects.list(KIND):
            if row["state"]["status"] not in TERMINAL:
                self._start_driver(row["name"])

    def shutdown(self) -> None:
        self.closing.set()
        for driver in list(self._drivers.values()):
            driver.join(timeout=5)

    def tick(self) -> None:
        """Restart the driver of any tuning job still running whose driver has died."""
        for name, driver in list(self._drivers.items()):
            if not driver.is_alive() and not self.closing.is_set():
                self._start_driver(name)

    def _start_driver(self, name: str) -> None:
        with self._lock:
            driver = self._drivers.get(name)
            if driver is not None and driver.is_alive():
                return
            if self.objects.get(KIND, name, "tuning job")["state"]["status"] in TERMINAL:
                self._drivers.pop(name, None)
                return
            driver = _Driver(self, name)
            self._drivers[name] = driver
            driver.start()

    # -- state ----------------------------------------------------------------------------------
    def state(self, name: str) -> dict[str, Any]:
        return dict(self.objects.get(KIND, name, "tuning job")["state"])

    def update_state(self, name: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            return self._set_state(name, **changes)

    def end(self, name: str, status: str, **fields: Any) -> bool:
        """Give the tuning job its final status, unless it already has one."""
        with self._lock:
            if self.objects.get(KIND, name, "tuning job")["state"]["status"] in TERMINAL:
                return False
            self._set_state(name, status=status, ended_at=time.time(), **fields)
        self.control.notify()
        return True

    async def wait(self, name: str, timeout: float) -> dict[str, Any]:
        """The description once the tuning job has ended or one of its training jobs changed
        status (or after ``timeout`` seconds)."""
        from starlette.concurrency import run_in_threadpool

        def progress(d: dict[str, Any]) -> tuple[str, str]:
            return d["HyperParameterTuningJobStatus"], json.dumps(d["TrainingJobStatusCounters"], sort_keys=True)

        first = progress(await run_in_threadpool(self.describe, name))

        def done(d: dict[str, Any]) -> bool:
            return d["HyperParameterTuningJobStatus"] in TERMINAL or progress(d) != first

        return await self.control.wait_until(lambda: self.describe(name), done, timeout)

    def _set_state(self, name: str, **changes: Any) -> dict[str, Any]:
        state = dict(self.objects.get(KIND, name, "tuning job")["state"])
        state.update(changes)
        self.objects.update(KIND, name, state=state)
        return state

    def _trials(self, row: dict[str, Any]) -> list[_Trial]:
        spec = row["spec"]
        metric = spec["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"]
        jobs = sorted(self.catalog.list_jobs(parent=row["name"], limit=None), key=lambda j: j["created_at"])
        values = self.catalog.final_values([j["name"] for j in jobs], metric)
        early = set(row["state"].get("early_stopped") or [])
        return [_Trial(j, spec, values.get(j["name"]), j["name"] in early) for j in jobs]

    def _overall_best(self, row: dict[str, Any], trials: list[_Trial]) -> dict[str, Any] | None:
        """The best of this tuning job's and its parents' jobs (identical-data warm starts only)."""
        warm = row["spec"].get("WarmStartConfig")
        if not warm or warm["WarmStartType"] != "IdenticalDataAndAlgorithm":
            return None
        trials = list(trials)
        for parent in warm["ParentHyperParameterTuningJobs"]:
            try:
                trials += self._trials(self.objects.get(KIND, parent["HyperParameterTuningJobName"]))
            except NotFoundError:
                continue
        best = _best(trials, _objective(row["spec"])["Type"])
        return best.summary() if best else None


class _Trial:
    """One training job of a tuning job, and what it means for the tuning job."""

    def __init__(self, job: dict[str, Any], spec: dict[str, Any], value: float | None, early_stopped: bool) -> None:
        self.job = job
        self.name = job["name"]
        self.status = job["status"]
        self.spec = spec
        self.value = value if value is not None and math.isfinite(value) else None
        # A stop that came after the job had completed does not make it an early-stopped job.
        self.early_stopped = early_stopped and self.status != "Completed"
        ranges = spec["HyperParameterTuningJobConfig"]["ParameterRanges"]
        tuned = {r["Name"] for kind in ranges.values() for r in kind}
        self.hyperparameters = {k: v for k, v in (job["spec"].get("HyperParameters") or {}).items() if k in tuned}

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    @property
    def failed(self) -> bool:
        """Counts against the tuning job: the job failed, or finished without its objective."""
        return self.status == "Failed" or (self.status == "Completed" and self.value is None)

    @property
    def outcome(self) -> str:
        if self.status == "Completed" and self.value is not None:
            return Outcome.COMPLETE
        if self.status == "Stopped" and self.early_stopped:
            return Outcome.PRUNED
        return Outcome.FAILED

    @property
    def objective_status(self) -> str:
        if not self.ended:
            return "Pending"
        return "Succeeded" if self.value is not None and self.status != "Failed" else "Failed"

    def summary(self) -> dict[str, Any]:
        job = self.job
        objective = _objective(self.spec)
        out: dict[str, Any] = {
            "TrainingJobName": self.name,
            "TrainingJobArn": arn("training-job", self.name),
            "TuningJobName": job["parent"],
            "CreationTime": iso(job["created_at"]),
            "TrainingJobStatus": self.status,
            "TunedHyperParameters": self.hyperparameters,
            "ObjectiveStatus": self.objective_status,
            "EarlyStopped": self.early_stopped,
        }
        if job["started_at"]:
            out["TrainingStartTime"] = iso(job["started_at"])
        if job["ended_at"]:
            out["TrainingEndTime"] = iso(job["ended_at"])
        if job["failure_reason"]:
            out["FailureReason"] = job["failure_reason"]
        if self.value is not None:
            out["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": objective["Type"], "MetricName": objective["MetricName"], "Value": self.value}
        return out


def _objective(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]


def _better(a: float, b: float, objective_type: str) -> bool:
    return a > b if objective_type == "Maximize" else a < b


def _best(trials: list[_Trial], objective_type: str) -> _Trial | None:
    """The best job that completed with an objective value (jobs stopped early do not count)."""
    best = None
    for t in trials:
        if t.outcome == Outcome.COMPLETE and t.value is not None and (
                best is None or _better(t.value, best.value, objective_type)):  # type: ignore[arg-type]
            best = t
    return best


def _describe(row: dict[str, Any], trials: list[_Trial], overall: dict[str, Any] | None) -> dict[str, Any]:
    spec, state, name = row["spec"], row["state"], row["name"]
    cfg = spec["HyperParameterTuningJobConfig"]
    counters = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    objective_counters = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for t in trials:
        key = {"Completed": "Completed", "Failed": "NonRetryableError", "Stopped": "Stopped"}.get(t.status,
                                                                                               "InProgress")
        counters[key] += 1
        objective_counters[t.objective_status] += 1
    out: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": arn("hyper-parameter-tuning-job", name),
        "HyperParameterTuningJobConfig": cfg,
        "TrainingJobDefinition": spec["TrainingJobDefinition"],
        "HyperParameterTuningJobStatus": state["status"],
        "Strategy": cfg["Strategy"],
        "ResourceLimits": cfg["ResourceLimits"],
        "CreationTime": iso(row["created_at"]),
        "LastModifiedTime": iso(row["modified_at"]),
        "TrainingJobStatusCounters": counters,
        "ObjectiveStatusCounters": objective_counters,
        "Tags": spec.get("Tags") or [],
        "MlyardConfig": spec.get("MlyardConfig") or {},
    }
    if spec.get("WarmStartConfig"):
        out["WarmStartConfig"] = spec["WarmStartConfig"]
        out["WarmStartSeedCount"] = state.get("seeded", 0)  # the parents' jobs that seeded the search
    best = _best(trials, cfg["HyperParameterTuningJobObjective"]["Type"])
    if best is not None:
        out["BestTrainingJob"] = best.summary()
    if overall is not None:
        out["OverallBestTrainingJob"] = overall
    if state.get("ended_at"):
        out["HyperParameterTuningEndTime"] = iso(state["ended_at"])
    end = state.get("ended_at") or time.time()
    out["ConsumedResources"] = {"RuntimeInSeconds": int(round(end - row["created_at"]))}
    if state.get("failure_reason"):
        out["FailureReason"] = state["failure_reason"]
    if state.get("completion"):
        out["TuningJobCompletionDetails"] = state["completion"]
    if state.get("message"):
        out["StatusMessage"] = state["message"]
    return out


def _trial_request(spec: dict[str, Any], job_name: str, tuned: dict[str, str]) -> dict[str, Any]:
    """The CreateTrainingJob request of one of the tuning job's training jobs."""
    req = copy.deepcopy(spec["TrainingJobDefinition"])
    hps = {**req.pop("StaticHyperParameters"), **tuned,
           "_tuning_objective_metric": _objective(spec)["MetricName"]}
    if "sagemaker_job_name" in hps:
        hps["sagemaker_job_name"] = json.dumps(job_name)
    req["HyperParameters"] = hps
    req["TrainingJobName"] = job_name
    if req.get("CheckpointConfig"):  # each job its own checkpoints, as SageMaker's tuning jobs have
        req["CheckpointConfig"]["S3Uri"] = store.join(req["CheckpointConfig"]["S3Uri"], job_name)
    return req


class _Driver(threading.Thread):
    """Runs one tuning job until it ends (or the server shuts down)."""

    POLL = 0.25  # how often running jobs' objective series are read for early stopping

    def __init__(self, tunings: Tunings, name: str) -> None:
        super().__init__(name=f"mlyard-tuning-{name}", daemon=True)
        self.tunings = tunings
        self.control = tunings.control
        self.catalog = tunings.catalog
        self.tuning = name
        self._convergence_checked = 0

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a defect of ours: the tuning job fails with it, the server goes on
            traceback.print_exc()
            try:
                self._stop_active(self.tunings._trials(self.tunings.objects.get(KIND, self.tuning)),
                                  "Stopped: the tuning job failed")
                self.tunings.end(self.tuning, "Failed",
                                 failure_reason=f"InternalError: the tuning job's driver failed: {exc!r}")
            except Exception:
                traceback.print_exc()

    def _run(self) -> None:
        row = self.tunings.objects.get(KIND, self.tuning)
        if row["state"]["status"] in TERMINAL:
            return
        spec = row["spec"]
        cfg = spec["HyperParameterTuningJobConfig"]
        definition = spec["TrainingJobDefinition"]
        space = Space.from_request(cfg["ParameterRanges"])
        strategy: Strategy = strategy_for(cfg, space, definition["StaticHyperParameters"])
        limits = cfg["ResourceLimits"]
        max_jobs, max_parallel = limits["MaxNumberOfTrainingJobs"], limits["MaxParallelTrainingJobs"]
        objective = _objective(spec)
        metric, objective_type = objective["MetricName"], objective["Type"]
        own = self.tunings._trials(row)
        # A study rebuilt after a restart draws on from where the first one was, not again from the
        # seed's start: finished jobs are added to it without drawing anything.
        seed = cfg.get("RandomSeed")
        study = TuningStudy(space, strategy, objective_type,
                            None if seed is None else (seed + len(own)) % 2**32, max_jobs)
        criteria = cfg.get("TuningJobCompletionCriteria") or {}
        max_failed = (spec.get("MlyardConfig") or {}).get("MaxFailedShare", 0.5) * max_jobs
        early = strategy.early_stopping == "Auto" or strategy.name == "Hyperband"

        # Warm start: the parents' finished jobs that fit this search space seed the study.
        seeded = 0
        for parent in (spec.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs") or []:
            parent_row = self.tunings.objects.get(KIND, parent["HyperParameterTuningJobName"])
            for t in self.tunings._trials(parent_row):
                if t.ended:
                    seeded += study.add_finished(t.job["spec"].get("HyperParameters") or {}, t.outcome, t.value,
                                                 self._series(t.name, metric))
        if spec.get("WarmStartConfig") and row["state"].get("seeded") != seeded:
            self.tunings.update_state(self.tuning, seeded=seeded)
        # This tuning job's own jobs, from before a restart.
        for t in own:
            if t.ended:
                study.add_finished(t.job["spec"].get("HyperParameters") or {}, t.outcome, t.value,
                                   self._series(t.name, metric))
            else:
                study.resume(t.name, t.job["spec"].get("HyperParameters") or {})

        finishing: tuple[str, dict[str, Any]] | None = None
        finishing_since = 0.0
        last_poll = 0.0
        while not self.tunings.closing.is_set():
            generation = self.control.generation
            row = self.tunings.objects.get(KIND, self.tuning)
            state = row["state"]
            if state["status"] in TERMINAL:
                return
            trials = self.tunings._trials(row)
            for t in trials:
                if t.ended and t.name in study.running:
                    study.finish(t.name, t.outcome, t.value)
            active = [t for t in trials if not t.ended]

            if finishing is None:
                finishing = self._should_end(state, row, trials, limits, max_failed, metric, criteria,
                                             objective_type, study)
                finishing_since = time.monotonic()
            if finishing is None:
                if early and time.monotonic() - last_poll >= self.POLL:
                    last_poll = time.monotonic()
                    self._early_stop(active, study, metric, state)
                launched, running = len(trials), len(active)
                while running < max_parallel and launched < max_jobs:
                    # A stop may have come since the state was read; it wins over a new job.
                    if self.tunings.state(self.tuning)["status"] != "InProgress":
                        break
                    problem = self._launch(study, spec, launched + 1)
                    if problem:
                        finishing, finishing_since = ("Failed", {"failure_reason": problem}), time.monotonic()
                        break
                    launched += 1
                    running += 1
                if finishing is None and launched >= max_jobs and not running:
                    finishing, finishing_since = ("Completed", {}), time.monotonic()
            if finishing is not None:
                self._stop_active(active, f"Stopped: the tuning job is ending ({finishing[0]})")
                status, fields = finishing
                stuck = time.monotonic() - finishing_since > self.control.stop_grace + 30
                if not active or stuck:
                    if stuck:
                        fields = {**fields, "message": "ended while training jobs "
                                  f"{', '.join(t.name for t in active)} were still stopping"}
                    if status == "Completed" and _best(trials, objective_type) is None and trials:
                        status, fields = "Failed", {"failure_reason": self._no_result(trials, metric)}
                    self.tunings.end(self.tuning, status, **fields)
                    return
            self.control.wait_changed(generation, self.POLL if early or finishing else 1.0)

    def _should_end(self, state: dict[str, Any], row: dict[str, Any], trials: list[_Trial], limits: dict[str, Any],
                    max_failed: float, metric: str, criteria: dict[str, Any], objective_type: str,
                    study: TuningStudy) -> tuple[str, dict[str, Any]] | None:
        """Why the tuning job ends now (its final status, and what to record), if it does."""
        if state["status"] == "Stopping":
            return "Stopped", {"message": "Stopped by request"}
        runtime = limits.get("MaxRuntimeInSeconds")
        if runtime and time.time() - row["created_at"] > runtime:
            return "Stopped", {"failure_reason": f"the tuning job reached its MaxRuntimeInSeconds ({runtime:g} s)"}
        failed = [t for t in trials if t.failed]
        if len(failed) > max_failed:
            last = failed[-1]
            why = last.job["failure_reason"] or f"it reported no {metric!r} (check the metric definition's Regex)"
            max_jobs = limits["MaxNumberOfTrainingJobs"]
            return "Failed", {"failure_reason": (
                f"{len(failed)} of the tuning job's training jobs failed, more than {max_failed / max_jobs:.0%} of "
                f"MaxNumberOfTrainingJobs ({max_jobs}); the last, {last.name}: {why}")}
        return self._completion(trials, criteria, objective_type, study)

    def _completion(self, trials: list[_Trial], criteria: dict[str, Any], objective_type: str,
                    study: TuningStudy) -> tuple[str, dict[str, Any]] | None:
        done = sorted((t for t in trials if t.outcome == Outcome.COMPLETE),
                      key=lambda t: t.job["ended_at"] or 0.0)
        if not done:
            return None
        best = _best(trials, objective_type)
        assert best is not None and best.value is not None
        target = criteria.get("TargetObjectiveMetricValue")
        if target is not None and (best.value == target or _better(best.value, target, objective_type)):
            return ("Completed", {"message": f"{best.name} reached the target objective value {target:g}"})
        not_improving, best_so_far = 0, None
        for t in done:
            if best_so_far is None or _better(t.value, best_so_far, objective_type):  # type: ignore[arg-type]
                best_so_far, not_improving = t.value, 0
            else:
                not_improving += 1
        limit = (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
        details = {"NumberOfTrainingJobsObjectiveNotImproving": not_improving}
        if limit is not None and not_improving >= limit:
            return ("Completed", {"completion": details,
                                  "message": f"the best objective did not improve in {not_improving} jobs"})
        converge = (criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence") == "Enabled"
        if converge and len(done) > self._convergence_checked:
            self._convergence_checked = len(done)  # a Gaussian-process fit: only when a job has finished
            converged = study.converged()
        else:
            converged = False
        if converged:
            details["ConvergenceDetectedTime"] = iso(time.time())  # type: ignore[assignment]
            return ("Completed", {"completion": details, "message": "the search converged"})
        return None

    def _no_result(self, trials: list[_Trial], metric: str) -> str:
        reasons = [t.job["failure_reason"] for t in trials if t.job["failure_reason"]]
        if reasons:
            return f"no training job completed with an objective value; the last failure: {reasons[-1]}"
        return (f"no training job reported the objective metric {metric!r}: check that its metric definition's "
                "Regex matches a line the training script prints")

    def _series(self, job_name: str, metric: str) -> list[float]:
        rows = self.catalog.metrics(job_name, metric)
        first = rows[0]["host"] if rows else None
        return [r["value"] for r in rows if r["host"] == first]

    def _early_stop(self, active: list[_Trial], study: TuningStudy, metric: str, state: dict[str, Any]) -> None:
        for t in active:
            if t.status != "InProgress" or t.name not in study.running:
                continue
            if study.report(t.name, self._series(t.name, metric)):
                self.tunings.update_state(self.tuning, early_stopped=[*(state.get("early_stopped") or []), t.name])
                state = self.tunings.state(self.tuning)
                try:
                    self.control.stop(t.name, message=f"Stopped early by tuning job {self.tuning}: its {metric} "
                                                      "was worse than earlier jobs' at the same epoch")
                except MlyardError:
                    pass  # it ended meanwhile

    def _launch(self, study: TuningStudy, spec: dict[str, Any], number: int) -> str | None:
        """Start the next training job; the reason the tuning job must fail if it cannot."""
        trial, tuned = study.ask()
        name = f"{self.tuning}-{number:03d}-{secrets.token_hex(4)}"
        try:
            self.control.create_training_job(_trial_request(spec, name, tuned), parent=self.tuning)
        except MlyardError as exc:
            study.abandon(trial)
            return f"cannot start training job {name}: {exc.message}"
        study.bind(name, trial)
        return None

    def _stop_active(self, active: list[_Trial], message: str) -> None:
        for t in active:
            if t.status == "InProgress":
                try:
                    self.control.stop(t.name, message=message)
                except MlyardError:
                    pass
