"""Lineage: what each job, model, endpoint and model package consumed and produced, read from what
the catalog already records (their requests and descriptions), so nothing can fall out of step.
An artifact is a URI (a data set, code, a model, an image, a report); an artifact a job consumed is
linked to the job that produced it when the URIs are equal or one holds the other (a job that reads
``s3://b/data`` consumed what a job wrote to ``s3://b/data/train``).

``entity(arn)``: one entity's inputs and outputs (``LineageTableVisualizer``'s table);
``walk(uri)``: from an artifact, up to what made it (and what that consumed, recursively) and down
to what used it (and what that made)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlyard.catalog import Objects
from mlyard.errors import NotFoundError, ValidationError
from mlyard.server import describe
from mlyard.server.describe import arn

if TYPE_CHECKING:
    from mlyard.server.control import ControlPlane

__all__ = ["Lineage"]

_KINDS = {"training": "TrainingJob", "processing": "ProcessingJob", "transform": "TransformJob"}
_ARN_KINDS = {"TrainingJob": "training-job", "ProcessingJob": "processing-job", "TransformJob": "transform-job",
              "Model": "model", "Endpoint": "endpoint", "ModelPackage": "model-package"}


class _Entity:
    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        self.arn = arn(_ARN_KINDS[kind], name)
        self.inputs: list[tuple[str, str]] = []   # (uri, artifact type)
        self.outputs: list[tuple[str, str]] = []

    def consumed(self, uri: Any, kind: str) -> None:
        if isinstance(uri, str) and uri:
            self.inputs.append((uri.rstrip("/"), kind))

    def produced(self, uri: Any, kind: str) -> None:
        if isinstance(uri, str) and uri:
            self.outputs.append((uri.rstrip("/"), kind))


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


class Lineage:
    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self.objects = Objects(control.catalog)

    def _entities(self) -> list[_Entity]:
        out: list[_Entity] = []
        models: dict[str, _Entity] = {}
        for row in self.control.catalog.list_jobs(limit=None):
            if row["kind"] not in _KINDS:
                continue
            desc = describe.job(row, [], [])
            e = _Entity(_KINDS[row["kind"]], row["name"])
            if row["kind"] == "training":
                for ch in desc.get("InputDataConfig") or []:
                    e.consumed(((ch.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri"), "DataSet")
                e.consumed((desc.get("AlgorithmSpecification") or {}).get("TrainingImage"), "Image")
                code = (desc.get("HyperParameters") or {}).get("sagemaker_submit_directory")
                e.consumed(code.strip('"') if isinstance(code, str) else None, "Code")
                e.produced((desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts"), "Model")
            elif row["kind"] == "processing":
                for inp in desc.get("ProcessingInputs") or []:
                    e.consumed((inp.get("S3Input") or {}).get("S3Uri"),
                               "Code" if inp.get("InputName") == "code" else "DataSet")
                e.consumed((desc.get("AppSpecification") or {}).get("ImageUri"), "Image")
                for o in (desc.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
                    e.produced((o.get("S3Output") or {}).get("S3Uri"), "DataSet")
            else:
                e.consumed(((desc.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource", {})
                           .get("S3Uri"), "DataSet")
                e.produced((desc.get("TransformOutput") or {}).get("S3OutputPath"), "DataSet")
                e.inputs.append((f"model:{desc.get('ModelName')}", "Model"))
            out.append(e)
        for row in self.objects.list("model"):
            e = _Entity("Model", row["name"])
            spec = row["spec"]
            for c in spec.get("Containers") or [spec.get("PrimaryContainer") or {}]:
                e.consumed(c.get("ModelDataUrl"), "Model")
                e.consumed(c.get("Image"), "Image")
            e.consumed((spec.get("MlyardConfig") or {}).get("SourceUrl"), "Code")
            e.produced(f"model:{row['name']}", "Model")
            models[row["name"]] = e
            out.append(e)
        configs = {r["name"]: r["spec"] for r in self.objects.list("endpoint-config")}
        for row in self.objects.list("endpoint"):
            e = _Entity("Endpoint", row["name"])
            config = configs.get(str(row["spec"].get("EndpointConfigName"))) or {}
            for v in config.get("ProductionVariants") or []:
                e.inputs.append((f"model:{v.get('ModelName')}", "Model"))
            out.append(e)
        for row in self.objects.list("model-package"):
            e = _Entity("ModelPackage", row["name"])
            spec = row["spec"]
            for c in (spec.get("InferenceSpecification") or {}).get("Containers") or []:
                e.consumed(c.get("ModelDataUrl"), "Model")
            for section in (spec.get("ModelMetrics") or {}).values():
                for source in (section.values() if isinstance(section, dict) else []):
                    if isinstance(source, dict):
                        e.consumed(source.get("S3Uri"), "ModelMetrics")
            out.append(e)
        return out

    @staticmethod
    def _row(uri: str, direction: str, kind: str, association: str, entity: _Entity | None = None
             ) -> dict[str, Any]:
        name = uri[len("model:"):] if uri.startswith("model:") else uri
        row = {"Name/Source": name, "Direction": direction, "Type": kind, "Association Type": association,
               "Lineage Type": "artifact"}
        if entity is not None:
            row.update({"Name/Source": entity.name, "Type": entity.kind, "Lineage Type": "action",
                        "Arn": entity.arn})
        return row

    def entity(self, entity_arn: str) -> dict[str, Any]:
        """One job's (model's, endpoint's, package's) inputs and outputs; by its ARN, or
        ``<kind>/<name>`` (``training-job/NAME``)."""
        for e in self._entities():
            if e.arn == entity_arn or e.arn.endswith(":" + entity_arn):
                rows = [self._row(u, "Input", k, "ContributedTo") for u, k in e.inputs]
                rows += [self._row(u, "Output", k, "Produced") for u, k in e.outputs]
                return {"Arn": e.arn, "Type": e.kind, "Name": e.name, "Rows": rows}
        raise NotFoundError(f"nothing in the catalog has the ARN {entity_arn!r}")

    def walk(self, uri: str, depth: int = 20) -> dict[str, Any]:
        """From an artifact: up to what made it and what that consumed, recursively; down to what
        consumed it and what that made, recursively."""
        if not isinstance(uri, str) or not uri:
            raise ValidationError("give an artifact's URI (like s3://bucket/prefix/model.tar.gz)")
        start = uri.rstrip("/")
        entities = self._entities()
        known = any(_related(start, u) for e in entities for u, _ in e.inputs + e.outputs)
        if not known:
            raise NotFoundError(f"no job, model, endpoint or model package consumed or produced {uri!r}")
        up: list[dict[str, Any]] = []
        down: list[dict[str, Any]] = []
        seen_up: set[str] = set()
        seen_down: set[str] = set()

        def walk_up(artifact: str, level: int) -> None:
            for e in entities:
                if e.arn in seen_up or not any(_related(artifact, u) for u, _ in e.outputs):
                    continue
                seen_up.add(e.arn)
                up.append({**self._row("", "Upstream", "", "Produced", e), "Level": level, "Artifact": artifact})
                if level < depth:
                    for u, kind in e.inputs:
                        up.append({**self._row(u, "Upstream", kind, "ContributedTo"), "Level": level + 1,
                                   "To": e.name})
                        walk_up(u, level + 1)

        def walk_down(artifact: str, level: int) -> None:
            for e in entities:
                if e.arn in seen_down or not any(_related(artifact, u) for u, _ in e.inputs):
                    continue
                seen_down.add(e.arn)
                down.append({**self._row("", "Downstream", "", "ContributedTo", e), "Level": level,
                             "Artifact": artifact})
                if level < depth:
                    for u, kind in e.outputs:
                        down.append({**self._row(u, "Downstream", kind, "Produced"), "Level": level + 1,
                                     "From": e.name})
                        walk_down(u, level + 1)

        walk_up(start, 1)
        walk_down(start, 1)
        return {"Artifact": start, "Upstream": up, "Downstream": down}
