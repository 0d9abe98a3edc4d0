"""``ModelMetrics`` and ``MetricsSource`` (SageMaker's ``sagemaker.model_metrics``): the reports a
model package carries (quality statistics and constraints, data statistics, bias, explainability),
each a JSON document in the store."""

from __future__ import annotations

from typing import Any

from mlyard.workflow.entities import primitive_or_expr

__all__ = ["ModelMetrics", "MetricsSource", "FileSource"]


class MetricsSource:
    def __init__(self, content_type: Any, s3_uri: Any, content_digest: Any = None) -> None:
        self.content_type = content_type
        self.s3_uri = s3_uri
        self.content_digest = content_digest

    def _to_request_dict(self) -> dict[str, Any]:
        out = {"ContentType": primitive_or_expr(self.content_type), "S3Uri": primitive_or_expr(self.s3_uri)}
        if self.content_digest is not None:
            out["ContentDigest"] = primitive_or_expr(self.content_digest)
        return out


FileSource = MetricsSource


class ModelMetrics:
    def __init__(self, model_statistics: MetricsSource | None = None, model_constraints: MetricsSource | None = None,
                 model_data_statistics: MetricsSource | None = None,
                 model_data_constraints: MetricsSource | None = None, bias: MetricsSource | None = None,
                 explainability: MetricsSource | None = None, bias_pre_training: MetricsSource | None = None,
                 bias_post_training: MetricsSource | None = None) -> None:
        self.model_statistics = model_statistics
        self.model_constraints = model_constraints
        self.model_data_statistics = model_data_statistics
        self.model_data_constraints = model_data_constraints
        self.bias = bias
        self.explainability = explainability
        self.bias_pre_training = bias_pre_training
        self.bias_post_training = bias_post_training

    def _to_request_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        quality = {k: v._to_request_dict() for k, v in (("Statistics", self.model_statistics),
                                                         ("Constraints", self.model_constraints)) if v}
        if quality:
            out["ModelQuality"] = quality
        data = {k: v._to_request_dict() for k, v in (("Statistics", self.model_data_statistics),
                                                      ("Constraints", self.model_data_constraints)) if v}
        if data:
            out["ModelDataQuality"] = data
        bias = {k: v._to_request_dict() for k, v in (("Report", self.bias), ("PreTrainingReport",
                                                                             self.bias_pre_training),
                                                      ("PostTrainingReport", self.bias_post_training)) if v}
        if bias:
            out["Bias"] = bias
        if self.explainability:
            out["Explainability"] = {"Report": self.explainability._to_request_dict()}
        return out
