"""Automatic model tuning with the SageMaker Python SDK v2 signatures (``sagemaker.tuner``).

The tuning job runs in the control plane, so it outlives the notebook: ``fit(wait=False)``, then
``HyperparameterTuner.attach(name)`` from anywhere. ``strategy`` is ``"Bayesian"`` (default; a
Gaussian process, through Optuna), ``"Random"``, ``"Grid"`` (categorical ranges only),
``"Hyperband"``, or mlyard's ``"TPE"``. ``ScalingType="Auto"`` searches a range on a log scale
when its bounds are positive and two orders of magnitude or more apart, linearly otherwise.
"""

from __future__ import annotations

import importlib
import json
from enum import Enum
from typing import TYPE_CHECKING, Any

from mlyard.errors import ValidationError
from mlyard.estimator import EstimatorBase, _channels
from mlyard.hyperparameters import decode_hyperparameters
from mlyard.jobs import Job, _parse_times, submit
from mlyard.session import Session
from mlyard.statuses import TERMINAL
from mlyard.validation import check_name
from mlyard.workflow.pipeline_context import runnable_by_pipeline

if TYPE_CHECKING:
    from mlyard.client.sources import PackedSource

__all__ = [
    "CategoricalParameter", "ContinuousParameter", "HyperbandStrategyConfig", "HyperparameterTuner",
    "IntegerParameter", "ParameterRange", "StrategyConfig", "TuningJobCompletionCriteriaConfig", "WarmStartConfig",
    "WarmStartTypes",
]



class ParameterRange:
    """A range of a hyperparameter: ``min_value`` to ``max_value`` on a ``scaling_type`` scale
    (``Auto``, ``Linear``, ``Logarithmic``, ``ReverseLogarithmic``)."""

    __name__ = "Continuous"

    def __init__(self, min_value: float, max_value: float, scaling_type: str = "Auto") -> None:
        self.min_value = min_value
        self.max_value = max_value
        self.scaling_type = scaling_type

    def is_valid(self, value: float) -> bool:
        return self.min_value <= value <= self.max_value

    def as_tuning_range(self, name: str) -> dict[str, Any]:
        return {"Name": name, "MinValue": str(self.min_value), "MaxValue": str(self.max_value),
                "ScalingType": self.scaling_type}


class ContinuousParameter(ParameterRange):
    __name__ = "Continuous"


class IntegerParameter(ParameterRange):
    __name__ = "Integer"


class CategoricalParameter(ParameterRange):
    """One of ``values``. The training script gets each value JSON-encoded, as every
    hyperparameter is, so ``["adam", "sgd"]`` arrive as the strings ``adam`` and ``sgd``."""

    __name__ = "Categorical"

    def __init__(self, values: Any) -> None:
        self.values = list(values) if isinstance(values, (list, tuple, set)) else [values]

    def is_valid(self, value: Any) -> bool:
        return value in self.values

    def as_tuning_range(self, name: str) -> dict[str, Any]:
        return {"Name": name, "Values": [str(v) for v in self.values]}

    def as_json_range(self, name: str) -> dict[str, Any]:
        return {"Name": name, "Values": [json.dumps(v) for v in self.values]}


class WarmStartTypes(Enum):
    IDENTICAL_DATA_AND_ALGORITHM = "IdenticalDataAndAlgorithm"
    TRANSFER_LEARNING = "TransferLearning"


class WarmStartConfig:
    """Seed a tuning job with the finished training jobs of up to 5 ``parents`` (tuning job names)."""

    def __init__(self, warm_start_type: WarmStartTypes | str, parents: set[str] | list[str]) -> None:
        self.type = WarmStartTypes(warm_start_type)
        self.parents = set(parents)

    def to_input_req(self) -> dict[str, Any]:
        return {"WarmStartType": self.type.value,
                "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in sorted(self.parents)]}

    @classmethod
    def from_job_desc(cls, desc: dict[str, Any] | None) -> WarmStartConfig | None:
        if not desc:
            return None
        return cls(desc["WarmStartType"], {p["HyperParameterTuningJobName"] for p in
                                           desc["ParentHyperParameterTuningJobs"]})


class HyperbandStrategyConfig:
    """``max_resource``: the most epochs a job runs (default: the static ``epochs``-like
    hyperparameter); ``min_resource``: the fewest before a job may be stopped."""

    def __init__(self, max_resource: int | None = None, min_resource: int | None = None) -> None:
        self.max_resource = max_resource
        self.min_resource = min_resource

    def to_input_req(self) -> dict[str, Any]:
        return {"MinResource": self.min_resource, "MaxResource": self.max_resource}


class StrategyConfig:
    def __init__(self, hyperband_strategy_config: HyperbandStrategyConfig | None = None) -> None:
        self.hyperband_strategy_config = hyperband_strategy_config

    def to_input_req(self) -> dict[str, Any]:
        cfg = self.hyperband_strategy_config
        return {"HyperbandStrategyConfig": cfg.to_input_req() if cfg else None}


class TuningJobCompletionCriteriaConfig:
    """End the tuning job early: when the best objective reaches ``target_objective_metric_value``,
    when ``max_number_of_training_jobs_not_improving`` jobs in a row did not improve it, or (with
    ``complete_on_convergence``) when the search has converged. (SageMaker's spelling; mlyard's
    earlier ``max_number_training_jobs_not_improving`` is still accepted.)"""

    def __init__(self, max_number_of_training_jobs_not_improving: int | None = None,
                 complete_on_convergence: bool | None = None,
                 target_objective_metric_value: float | None = None,
                 max_number_training_jobs_not_improving: int | None = None) -> None:
        if max_number_training_jobs_not_improving is not None:
            if max_number_of_training_jobs_not_improving is not None:
                raise ValidationError("give max_number_of_training_jobs_not_improving once (SageMaker's spelling), "
                                      "not also max_number_training_jobs_not_improving")
            max_number_of_training_jobs_not_improving = max_number_training_jobs_not_improving
        self.max_number_of_training_jobs_not_improving = max_number_of_training_jobs_not_improving
        self.complete_on_convergence = complete_on_convergence
        self.target_objective_metric_value = target_objective_metric_value

    def to_input_req(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.target_objective_metric_value is not None:
            out["TargetObjectiveMetricValue"] = self.target_objective_metric_value
        if self.max_number_of_training_jobs_not_improving is not None:
            out["BestObjectiveNotImproving"] = {
                "MaxNumberOfTrainingJobsNotImproving": self.max_number_of_training_jobs_not_improving}
        if self.complete_on_convergence is not None:
            out["ConvergenceDetected"] = {
                "CompleteOnConvergence": "Enabled" if self.complete_on_convergence else "Disabled"}
        return out


class _TuningJob(Job):
    kind = "HyperParameterTuning"

    def describe(self) -> dict[str, Any]:
        return _parse_times(self.sagemaker_session.client.describe_tuning_job(self.name))

    def stop(self) -> None:
        self.sagemaker_session.client.stop_tuning_job(self.name)

    def logs(self, follow: bool = False, out: Any = None) -> None:
        raise ValidationError("a tuning job has no logs of its own: read its training jobs' logs "
                              "(analytics().dataframe() lists them)")

    def wait(self, logs: bool | str = False) -> dict[str, Any]:
        """Block until the tuning job ends, printing each training job as it ends; raise
        ``UnexpectedStatusException`` if it failed."""
        client = self.sagemaker_session.client
        shown: set[str] = set()
        return self._wait_ended(lambda: _print_progress(client.tuning_training_jobs(self.name), shown))

    def _wait_once(self) -> dict[str, Any]:
        return self.sagemaker_session.client.wait_tuning_job(self.name, timeout=20)


def _print_progress(summaries: list[dict[str, Any]], shown: set[str]) -> None:
    for s in summaries:
        if s["TrainingJobStatus"] not in TERMINAL or s["TrainingJobName"] in shown:
            continue
        shown.add(s["TrainingJobName"])
        metric = s.get("FinalHyperParameterTuningJobObjectiveMetric")
        value = f"{metric['MetricName']}={metric['Value']:.6g}" if metric else "no objective"
        status = "Stopped early" if s.get("EarlyStopped") else s["TrainingJobStatus"]
        params = " ".join(f"{k}={v}" for k, v in sorted(s["TunedHyperParameters"].items()))
        print(f"{s['TrainingJobName']}  {status:<13} {value:<24} {params}", flush=True)


class HyperparameterTuner:
    """Tune ``estimator``'s hyperparameters over ``hyperparameter_ranges`` by running training
    jobs and reading ``objective_metric_name`` from their logs (``metric_definitions``, or the
    estimator's)."""

    TUNING_JOB_NAME_MAX_LENGTH = 32

    def __init__(
        self,
        estimator: EstimatorBase,
        objective_metric_name: str,
        hyperparameter_ranges: dict[str, ParameterRange],
        metric_definitions: list[dict[str, str]] | None = None,
        strategy: str = "Bayesian",
        objective_type: str = "Maximize",
        max_jobs: int | None = None,
        max_parallel_jobs: int = 1,
        max_runtime_in_seconds: int | None = None,
        tags: list[dict[str, str]] | None = None,
        base_tuning_job_name: str | None = None,
        warm_start_config: WarmStartConfig | None = None,
        strategy_config: StrategyConfig | None = None,
        completion_criteria_config: TuningJobCompletionCriteriaConfig | None = None,
        early_stopping_type: str = "Off",
        estimator_name: str | None = None,
        random_seed: int | None = None,
        autotune: bool = False,
        hyperparameters_to_keep_static: list[str] | None = None,
        max_failed_share: float = 0.5,
        sagemaker_session: Session | None = None,
    ) -> None:
        if estimator_name is not None:
            raise ValidationError("several estimators in one tuning job (estimator_name, create()) are not "
                                  "supported: tune one estimator per tuning job")
        if autotune or hyperparameters_to_keep_static is not None:
            raise ValidationError("autotune (and hyperparameters_to_keep_static, which goes with it) is not "
                                  "supported: give hyperparameter_ranges")
        if objective_type not in ("Minimize", "Maximize"):
            raise ValidationError(f"objective_type must be 'Minimize' or 'Maximize', not {objective_type!r}")
        if early_stopping_type not in ("Off", "Auto"):
            raise ValidationError(f"early_stopping_type must be 'Off' or 'Auto', not {early_stopping_type!r}")
        if not hyperparameter_ranges:
            raise ValidationError("hyperparameter_ranges is empty: give at least one range to tune")
        for name, rng in hyperparameter_ranges.items():
            if not isinstance(rng, ParameterRange):
                raise ValidationError(f"hyperparameter range {name!r}: expected a ContinuousParameter, "
                                      f"IntegerParameter or CategoricalParameter, got {type(rng).__name__}")
        if max_jobs is not None and (not isinstance(max_jobs, int) or max_jobs < 1):
            raise ValidationError(f"max_jobs must be a positive integer, not {max_jobs!r}")
        if not isinstance(max_parallel_jobs, int) or max_parallel_jobs < 1:
            raise ValidationError(f"max_parallel_jobs must be a positive integer, not {max_parallel_jobs!r}")
        self.estimator = estimator
        self.objective_metric_name = objective_metric_name
        self._hyperparameter_ranges = dict(hyperparameter_ranges)
        self.metric_definitions = metric_definitions
        self.strategy = strategy
        self.objective_type = objective_type
        self.max_jobs = max_jobs
        self.max_parallel_jobs = max_parallel_jobs
        self.max_runtime_in_seconds = max_runtime_in_seconds
        self.tags = tags or []
        self.base_tuning_job_name = base_tuning_job_name
        self.warm_start_config = warm_start_config
        self.strategy_config = strategy_config
        self.completion_criteria_config = completion_criteria_config
        self.early_stopping_type = early_stopping_type
        self.random_seed = random_seed
        self.max_failed_share = max_failed_share
        self.sagemaker_session = (estimator.sagemaker_session if estimator is not None
                                  else sagemaker_session or Session())
        self.latest_tuning_job: _TuningJob | None = None
        self._current_job_name: str | None = None
        self._attached_cls: type[EstimatorBase] | None = None
        self._definition: dict[str, Any] | None = None
        if estimator is not None:  # an attached tuner's job was checked when it was created
            self._check()

    def _check(self) -> None:
        """The checks that need no server: what the tuning job would be refused for."""
        from mlyard.tuning.config import check_config

        static = {k: json.dumps(v) for k, v in self.estimator.hyperparameters().items()
                  if k not in self._hyperparameter_ranges}
        check_config(self._config_request(), static, [d["Name"] for d in self._metric_definitions()])

    def _metric_definitions(self) -> list[dict[str, str]]:
        if self.metric_definitions is not None:
            return list(self.metric_definitions)
        return list(self.estimator.metric_definitions) if self.estimator is not None else []

    def hyperparameter_ranges(self) -> dict[str, list[dict[str, Any]]]:
        """The ranges as the tuning job gets them (categorical values JSON-encoded)."""
        return self._ranges_request()

    def _ranges_request(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {"ContinuousParameterRanges": [], "IntegerParameterRanges": [],
                                                "CategoricalParameterRanges": []}
        for name, rng in self._hyperparameter_ranges.items():
            if isinstance(rng, CategoricalParameter):
                out["CategoricalParameterRanges"].append(rng.as_json_range(name))
            else:
                out[f"{rng.__name__}ParameterRanges"].append(rng.as_tuning_range(name))
        return out

    def _config_request(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "Strategy": self.strategy,
            "HyperParameterTuningJobObjective": {"Type": self.objective_type, "MetricName": self.objective_metric_name},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": self.max_jobs,
                               "MaxParallelTrainingJobs": self.max_parallel_jobs,
                               "MaxRuntimeInSeconds": self.max_runtime_in_seconds},
            "ParameterRanges": self._ranges_request(),
            "TrainingJobEarlyStoppingType": self.early_stopping_type,
            "RandomSeed": self.random_seed,
        }
        if self.strategy_config is not None:
            cfg["StrategyConfig"] = self.strategy_config.to_input_req()
        if self.completion_criteria_config is not None:
            cfg["TuningJobCompletionCriteria"] = self.completion_criteria_config.to_input_req()
        return cfg

    # -- running ---------------------------------------------------------------------------------
    @runnable_by_pipeline
    def fit(self, inputs: Any = None, job_name: str | None = None, include_cls_metadata: bool = False,
            estimator_kwargs: dict[str, Any] | None = None, wait: bool = True, **kwargs: Any) -> None:
        """Start the tuning job on ``inputs`` (as ``Estimator.fit`` takes them); with ``wait``,
        print each training job as it ends and return when the tuning job ends."""
        if estimator_kwargs:
            raise ValidationError("estimator_kwargs is for several estimators, which are not supported")
        if kwargs:  # SageMaker passes them to built-in algorithms' estimators, which mlyard does not have
            from mlyard.compat import cloud_only

            cloud_only("HyperparameterTuner.fit", kwargs)
        if self.estimator is None and self._definition is None:
            raise ValidationError("this tuner has no estimator: give it one to fit")
        source = self.estimator._source() if self.estimator is not None else None  # kept until submitted
        request = self._request(job_name, inputs, include_cls_metadata, source)
        name = submit(self.sagemaker_session, "tuning", request)["HyperParameterTuningJobName"]
        self._current_job_name = name
        self.latest_tuning_job = _TuningJob(self.sagemaker_session, name)
        if wait:
            self.wait()

    def _request(self, name: str | None, inputs: Any, include_cls_metadata: bool,
                 source: PackedSource | None = None) -> dict[str, Any]:
        """The CreateHyperParameterTuningJob request, pure as ``EstimatorBase._request`` is (the
        server names the job from ``MlyardConfig.BaseName`` when ``name`` is None)."""
        if name is not None:
            check_name("job_name", name, self.TUNING_JOB_NAME_MAX_LENGTH)
        base = self.base_tuning_job_name or (self.estimator._base_name() if self.estimator else "tuning")
        if self.estimator is None:
            # An attached tuner: its training jobs are defined as the attached job's were (its
            # source is already in the store), on new ``inputs`` if given.
            assert self._definition is not None
            definition = json.loads(json.dumps(self._definition))
            if inputs is not None:
                definition["InputDataConfig"] = _channels(inputs)
        else:
            training = self.estimator._request(name, inputs, source or self.estimator._source())
            definition = {k: v for k, v in training.items()
                          if k not in ("TrainingJobName", "HyperParameters", "Tags")}
            static = {k: v for k, v in training["HyperParameters"].items() if k not in self._hyperparameter_ranges}
            if include_cls_metadata:
                static["sagemaker_estimator_class_name"] = json.dumps(type(self.estimator).__name__)
                static["sagemaker_estimator_module"] = json.dumps(type(self.estimator).__module__)
            definition["StaticHyperParameters"] = static
        definition["AlgorithmSpecification"]["MetricDefinitions"] = self._metric_definitions()
        request: dict[str, Any] = {
            "HyperParameterTuningJobName": name,
            "HyperParameterTuningJobConfig": self._config_request(),
            "TrainingJobDefinition": definition,
            "Tags": self.tags,
            "MlyardConfig": {"MaxFailedShare": self.max_failed_share, "BaseName": base},
        }
        if self.warm_start_config is not None:
            request["WarmStartConfig"] = self.warm_start_config.to_input_req()
        return request

    def _job(self) -> _TuningJob:
        if self.latest_tuning_job is None:
            raise ValidationError("this tuner has not started a tuning job yet: call fit() first")
        return self.latest_tuning_job

    def wait(self) -> None:
        """Block until the tuning job ends; raise ``UnexpectedStatusException`` if it failed."""
        self._job().wait()

    def describe(self) -> dict[str, Any]:
        return self._job().describe()

    def stop_tuning_job(self) -> None:
        self._job().stop()

    def best_training_job(self) -> str:
        """The name of the best training job so far (jobs stopped early do not count)."""
        desc = self._job().describe()
        best = desc.get("BestTrainingJob")
        if not best:
            raise ValidationError(f"tuning job {self._job().name} has no best training job yet: no job has "
                                  f"completed with an objective value ({desc['HyperParameterTuningJobStatus']})")
        return str(best["TrainingJobName"])

    def best_estimator(self, best_training_job: str | None = None) -> EstimatorBase:
        """An estimator attached to the best training job: deploy it, or fit it again."""
        name = best_training_job or self.best_training_job()
        return self._estimator_cls().attach(name, sagemaker_session=self.sagemaker_session)

    def _estimator_cls(self) -> type[EstimatorBase]:
        if self.estimator is not None:
            return type(self.estimator)
        return self._attached_cls or _estimator_cls_for(self._definition or {})

    def deploy(self, initial_instance_count: int | None = None, instance_type: str | None = None,
               serializer: Any = None, deserializer: Any = None, accelerator_type: str | None = None,
               endpoint_name: str | None = None, **kwargs: Any) -> Any:
        """Deploy the best training job's model to a local endpoint; return its predictor."""
        return self.best_estimator().deploy(initial_instance_count, instance_type, serializer=serializer,
                                            deserializer=deserializer, accelerator_type=accelerator_type,
                                            endpoint_name=endpoint_name, **kwargs)

    def analytics(self) -> Any:
        from mlyard.analytics import HyperparameterTuningJobAnalytics

        return HyperparameterTuningJobAnalytics(self._job().name, sagemaker_session=self.sagemaker_session)

    # -- warm start ------------------------------------------------------------------------------
    def transfer_learning_tuner(self, additional_parents: set[str] | None = None,
                                estimator: EstimatorBase | None = None) -> HyperparameterTuner:
        """A tuner like this one, seeded by this tuning job (and ``additional_parents``); data and
        script may differ."""
        return self._warm_tuner(WarmStartTypes.TRANSFER_LEARNING, additional_parents, estimator)

    def identical_dataset_and_algorithm_tuner(self, additional_parents: set[str] | None = None
                                              ) -> HyperparameterTuner:
        """A tuner like this one, seeded by this tuning job (and ``additional_parents``), on the
        same data and script."""
        return self._warm_tuner(WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM, additional_parents, None)

    def _warm_tuner(self, kind: WarmStartTypes, additional: set[str] | None,
                    estimator: EstimatorBase | None) -> HyperparameterTuner:
        parents = {self._job().name, *(additional or set())}
        tuner = HyperparameterTuner(
            estimator or self.estimator, self.objective_metric_name, self._hyperparameter_ranges,
            metric_definitions=self.metric_definitions, strategy=self.strategy, objective_type=self.objective_type,
            max_jobs=self.max_jobs, max_parallel_jobs=self.max_parallel_jobs,
            max_runtime_in_seconds=self.max_runtime_in_seconds, tags=self.tags,
            base_tuning_job_name=self.base_tuning_job_name, warm_start_config=WarmStartConfig(kind, parents),
            strategy_config=self.strategy_config, completion_criteria_config=self.completion_criteria_config,
            early_stopping_type=self.early_stopping_type, random_seed=self.random_seed,
            max_failed_share=self.max_failed_share, sagemaker_session=self.sagemaker_session)
        if tuner.estimator is None:  # from an attached tuner: its jobs are defined as this one's were
            tuner._definition, tuner._attached_cls = self._definition, self._attached_cls
        return tuner

    @classmethod
    def attach(cls, tuning_job_name: str, sagemaker_session: Session | None = None,
               job_details: dict[str, Any] | None = None,
               estimator_cls: type[EstimatorBase] | str | None = None) -> HyperparameterTuner:
        """A tuner for an existing tuning job (one started with ``fit(wait=False)``, or by anyone)."""
        session = sagemaker_session or Session()
        desc = job_details or session.client.describe_tuning_job(tuning_job_name)
        cfg = desc["HyperParameterTuningJobConfig"]
        definition = desc["TrainingJobDefinition"]
        if isinstance(estimator_cls, str):
            estimator_cls = _import(estimator_cls)
        ranges: dict[str, ParameterRange] = {}
        for item in cfg["ParameterRanges"].get("ContinuousParameterRanges") or []:
            ranges[item["Name"]] = ContinuousParameter(float(item["MinValue"]), float(item["MaxValue"]),
                                                       item.get("ScalingType") or "Auto")
        for item in cfg["ParameterRanges"].get("IntegerParameterRanges") or []:
            ranges[item["Name"]] = IntegerParameter(int(float(item["MinValue"])), int(float(item["MaxValue"])),
                                                    item.get("ScalingType") or "Auto")
        for item in cfg["ParameterRanges"].get("CategoricalParameterRanges") or []:
            ranges[item["Name"]] = CategoricalParameter(list(decode_hyperparameters(
                {str(i): v for i, v in enumerate(item["Values"])}).values()))
        limits = cfg["ResourceLimits"]
        criteria = cfg.get("TuningJobCompletionCriteria") or {}
        hyperband = ((cfg.get("StrategyConfig") or {}).get("HyperbandStrategyConfig")) or None
        not_improving = (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
        convergence = (criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence")
        tuner = cls(
            None, cfg["HyperParameterTuningJobObjective"]["MetricName"], ranges,  # type: ignore[arg-type]
            metric_definitions=definition["AlgorithmSpecification"].get("MetricDefinitions") or [],
            strategy=cfg["Strategy"], objective_type=cfg["HyperParameterTuningJobObjective"]["Type"],
            max_jobs=limits["MaxNumberOfTrainingJobs"], max_parallel_jobs=limits["MaxParallelTrainingJobs"],
            max_runtime_in_seconds=limits.get("MaxRuntimeInSeconds"), tags=desc.get("Tags") or [],
            warm_start_config=WarmStartConfig.from_job_desc(desc.get("WarmStartConfig")),
            strategy_config=(StrategyConfig(HyperbandStrategyConfig(hyperband.get("MaxResource"),
                                                                    hyperband.get("MinResource")))
                             if hyperband else None),
            completion_criteria_config=TuningJobCompletionCriteriaConfig(
                not_improving, None if convergence is None else convergence == "Enabled",
                criteria.get("TargetObjectiveMetricValue")) if criteria else None,
            early_stopping_type=cfg.get("TrainingJobEarlyStoppingType") or "Off", random_seed=cfg.get("RandomSeed"),
            max_failed_share=(desc.get("MlyardConfig") or {}).get("MaxFailedShare", 0.5),
            sagemaker_session=session)
        tuner._attached_cls = estimator_cls
        tuner._definition = definition
        tuner._current_job_name = tuning_job_name
        tuner.latest_tuning_job = _TuningJob(session, tuning_job_name)
        return tuner


def _estimator_cls_for(definition: dict[str, Any]) -> type[EstimatorBase]:
    """The estimator class a tuning job's training jobs were defined with."""
    static = decode_hyperparameters(definition.get("StaticHyperParameters") or {})
    if "sagemaker_estimator_class_name" in static and "sagemaker_estimator_module" in static:
        return _import(f"{static['sagemaker_estimator_module']}.{static['sagemaker_estimator_class_name']}")
    framework = (definition.get("MlyardConfig") or {}).get("Framework")
    by_framework = {"tensorflow": "mlyard.tensorflow.TensorFlow", "pytorch": "mlyard.pytorch.PyTorch",
                    "sklearn": "mlyard.sklearn.SKLearn"}
    return _import(by_framework.get(framework or "", "mlyard.estimator.Estimator"))


def _import(path: str) -> type[EstimatorBase]:
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, EstimatorBase)):
        raise ValidationError(f"{path} is not an estimator class")
    return cls

