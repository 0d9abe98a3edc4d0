"""Analytics as pandas DataFrames: a training job's metric series (``TrainingJobAnalytics``) and
a tuning job's training jobs (``HyperparameterTuningJobAnalytics``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlyard.session import Session

__all__ = ["HyperparameterTuningJobAnalytics", "TrainingJobAnalytics"]


class TrainingJobAnalytics:
    """Columns ``timestamp`` (seconds since the job started), ``metric_name``, ``value``; with
    several hosts, also ``host``."""

    def __init__(self, training_job_name: str, metric_names: list[str] | None = None,
                 sagemaker_session: Session | None = None, **_ignored: Any) -> None:
        self.name = training_job_name
        self._metric_names = metric_names
        self._session = sagemaker_session or Session()
        self._df: Any = None

    def clear_cache(self) -> None:
        self._df = None

    def dataframe(self, force_refresh: bool = False) -> Any:
        import pandas as pd

        if self._df is not None and not force_refresh:
            return self._df
        client = self._session.client
        desc = client.describe_job(self.name)
        start = desc.get("TrainingStartTime") or desc.get("CreationTime")
        t0 = datetime.fromisoformat(start).timestamp() if start else 0.0
        rows = client.job_metrics(self.name)
        if self._metric_names:
            rows = [r for r in rows if r["name"] in self._metric_names]
        df = pd.DataFrame({"timestamp": [r["timestamp"] - t0 for r in rows],
                           "metric_name": [r["name"] for r in rows],
                           "value": [r["value"] for r in rows]})
        if len({r["host"] for r in rows}) > 1:
            df["host"] = [r["host"] for r in rows]
        self._df = df
        return df


class HyperparameterTuningJobAnalytics:
    """One row per training job of a tuning job: its tuned hyperparameters, ``TrainingJobName``,
    ``TrainingJobStatus``, ``FinalObjectiveValue`` (the objective metric's last value; NaN when it
    reported none), ``TrainingStartTime``, ``TrainingEndTime``, ``TrainingElapsedTimeSeconds``."""

    def __init__(self, hyperparameter_tuning_job_name: str, sagemaker_session: Session | None = None) -> None:
        self.name = hyperparameter_tuning_job_name
        self._session = sagemaker_session or Session()
        self._df: Any = None
        self._summaries: list[dict[str, Any]] | None = None

    def clear_cache(self) -> None:
        self._df = None
        self._summaries = None

    def description(self, force_refresh: bool = False) -> dict[str, Any]:
        from mlyard.jobs import _parse_times

        return _parse_times(self._session.client.describe_tuning_job(self.name))

    def training_job_summaries(self, force_refresh: bool = False) -> list[dict[str, Any]]:
        if self._summaries is None or force_refresh:
            self._summaries = self._session.client.tuning_training_jobs(self.name)
        return list(self._summaries)

    def dataframe(self, force_refresh: bool = False) -> Any:
        import pandas as pd

        from mlyard.hyperparameters import decode_hyperparameters

        if self._df is not None and not force_refresh:
            return self._df
        rows = []
        for s in self.training_job_summaries(force_refresh=force_refresh):
            # Numbers as floats, as SageMaker's analytics give them; categorical values decoded.
            row: dict[str, Any] = {
                key: float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
                for key, value in decode_hyperparameters(s["TunedHyperParameters"]).items()}
            metric = s.get("FinalHyperParameterTuningJobObjectiveMetric")
            start, end = s.get("TrainingStartTime"), s.get("TrainingEndTime")
            row.update({
                "TrainingJobName": s["TrainingJobName"],
                "TrainingJobStatus": s["TrainingJobStatus"],
                "FinalObjectiveValue": metric["Value"] if metric else float("nan"),
                "TrainingStartTime": datetime.fromisoformat(start) if start else None,
                "TrainingEndTime": datetime.fromisoformat(end) if end else None,
            })
            row["TrainingElapsedTimeSeconds"] = ((row["TrainingEndTime"] - row["TrainingStartTime"]).total_seconds()
                                                 if start and end else None)
            rows.append(row)
        self._df = pd.DataFrame(rows)
        return self._df
