"""``TrainingJobAnalytics``: a training job's metric series as a pandas DataFrame."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlyard.session import Session

__all__ = ["TrainingJobAnalytics"]


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
