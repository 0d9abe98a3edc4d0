"""The model registry: model package groups and their versioned model packages (SageMaker's
CreateModelPackageGroup/CreateModelPackage/UpdateModelPackage...), catalog objects like models.
A package holds an inference specification (the containers a model is made from), model metrics,
and an approval status with who changed it, when, and why. Approving a version runs what the
group's approval rules name: a workflow (its input: the package's event) or a pipeline (parameters
taken from the event), which is how a retraining story deploys."""

from __future__ import annotations

import getpass
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from mlyard.catalog import Objects
from mlyard.errors import ConflictError, MlyardError, ValidationError
from mlyard.server.describe import arn, iso

if TYPE_CHECKING:
    from mlyard.server.control import ControlPlane

__all__ = ["Registry", "APPROVAL_STATUSES"]

GROUP, PACKAGE = "model-package-group", "model-package"
APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")
_GROUP_NAME = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,54}$")  # 55: room for "/<version>" in the catalog


class Registry:
    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self.objects = Objects(control.catalog)
        self._lock = threading.Lock()  # version numbers are given one at a time

    # -- groups -----------------------------------------------------------------------------------
    def create_group(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req.get("ModelPackageGroupName")
        if not isinstance(name, str) or not _GROUP_NAME.match(name):
            raise ValidationError(f"model package group name {name!r} must be 1 to 55 letters, digits or '-' "
                                  "(not first or last)")
        self.objects.insert(GROUP, name, {"Description": req.get("ModelPackageGroupDescription"),
                                          "Tags": req.get("Tags") or [], "Rules": [], "CreatedBy": _who(req)},
                            state={"versions": 0}, what="model package group")
        return {"ModelPackageGroupArn": arn("model-package-group", name)}

    def _group(self, name: str) -> dict[str, Any]:
        return self.objects.get(GROUP, name, "model package group")

    def describe_group(self, name: str) -> dict[str, Any]:
        row = self._group(name)
        return {"ModelPackageGroupName": name, "ModelPackageGroupArn": arn("model-package-group", name),
                "ModelPackageGroupDescription": row["spec"].get("Description"), "CreationTime": iso(row["created_at"]),
                "CreatedBy": {"UserProfileName": row["spec"].get("CreatedBy")},
                "ModelPackageGroupStatus": "Completed", "ApprovalRules": row["spec"].get("Rules") or []}

    def list_groups(self) -> dict[str, Any]:
        return {"ModelPackageGroupSummaryList": [
            {"ModelPackageGroupName": r["name"], "ModelPackageGroupArn": arn("model-package-group", r["name"]),
             "ModelPackageGroupDescription": r["spec"].get("Description"), "CreationTime": iso(r["created_at"]),
             "ModelPackageGroupStatus": "Completed"} for r in self.objects.list(GROUP)]}

    def delete_group(self, name: str) -> None:
        self._group(name)
        if any(r["name"].startswith(f"{name}/") for r in self.objects.list(PACKAGE)):
            raise ConflictError(f"model package group {name!r} still has model packages; delete them first")
        self.objects.delete(GROUP, name)

    def set_rules(self, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        """What approving a version of the group runs: ``[{"Workflow": name}]`` or ``[{"Pipeline":
        name, "Parameters": {parameter: field of the event}}]``."""
        row = self._group(name)
        checked = []
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict) or ("Workflow" in rule) == ("Pipeline" in rule) \
                    or not isinstance(rule.get("Workflow", rule.get("Pipeline")), str):
                raise ValidationError(f"rule {i}: name a Workflow or a Pipeline (one of them, by name) to run on "
                                      "approval")
            if "Workflow" in rule:
                self.control.workflows.records.get_state_machine(rule["Workflow"])
                checked.append({"Workflow": rule["Workflow"]})
            else:
                self.control.pipelines.describe(rule["Pipeline"])
                params = rule.get("Parameters") or {}
                if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
                    raise ValidationError(f"rule {i}: Parameters maps a pipeline parameter to a field of the "
                                          "approval event (like {'ModelPackageArn': 'ModelPackageArn'})")
                checked.append({"Pipeline": rule["Pipeline"], "Parameters": params})
        self.objects.update(GROUP, name, spec=dict(row["spec"], Rules=checked))
        return self.describe_group(name)

    # -- packages ---------------------------------------------------------------------------------
    def create_package(self, req: dict[str, Any]) -> dict[str, Any]:
        group = req.get("ModelPackageGroupName")
        status = req.get("ModelApprovalStatus") or "PendingManualApproval"
        if status not in APPROVAL_STATUSES:
            raise ValidationError(f"ModelApprovalStatus {status!r} must be one of {', '.join(APPROVAL_STATUSES)}")
        spec = (req.get("InferenceSpecification") or {})
        containers = spec.get("Containers") or []
        if not containers or not all(isinstance(c, dict) and (c.get("ModelDataUrl") or c.get("Image"))
                                     for c in containers):
            raise ValidationError("InferenceSpecification needs Containers, each with a ModelDataUrl (or an Image)")
        for c in containers:
            if c.get("ModelDataUrl"):
                self.control.sources.check("a container's ModelDataUrl", c["ModelDataUrl"])
        metrics = req.get("ModelMetrics") or {}
        for section, sources in metrics.items():
            if not isinstance(sources, dict) or not all(
                    isinstance(src, dict) and isinstance(src.get("S3Uri"), str) for src in sources.values()):
                raise ValidationError(f"ModelMetrics.{section} must map report names to {{ContentType, S3Uri}}")
        who = _who(req)
        now = time.time()
        body = {"InferenceSpecification": spec, "ModelMetrics": req.get("ModelMetrics"),
                "SourceStep": req.get("SourceStep"),
                "ModelPackageDescription": req.get("ModelPackageDescription"),
                "CustomerMetadataProperties": req.get("CustomerMetadataProperties") or {},
                "Domain": req.get("Domain"), "Task": req.get("Task"), "Tags": req.get("Tags") or [],
                "SourcePipelineExecutionArn": req.get("SourcePipelineExecutionArn"), "CreatedBy": who}
        state = {"ModelApprovalStatus": status, "ApprovalDescription": req.get("ApprovalDescription"),
                 "LastModifiedBy": who, "LastModifiedTime": now,
                 "History": [{"ModelApprovalStatus": status, "By": who, "At": now}]}
        if group:
            if not isinstance(group, str):
                raise ValidationError("ModelPackageGroupName must be a group's name")
            with self._lock:
                row = self._group(group)
                version = int(row["state"].get("versions", 0)) + 1
                self.objects.update(GROUP, group, state=dict(row["state"], versions=version))
            name = f"{group}/{version}"
            body.update(ModelPackageGroupName=group, ModelPackageVersion=version)
        else:
            given = req.get("ModelPackageName")
            if not isinstance(given, str) or not _GROUP_NAME.match(given):
                raise ValidationError("a model package needs a ModelPackageGroupName (a versioned package) or a "
                                      "ModelPackageName")
            name = given
        self.objects.insert(PACKAGE, name, body, state=state, what="model package")
        if status == "Approved":
            self._approved(name)
        return {"ModelPackageArn": arn("model-package", name)}

    def _key(self, name_or_arn: str) -> str:
        prefix = arn("model-package", "")
        return name_or_arn[len(prefix):] if name_or_arn.startswith(prefix) else name_or_arn

    def _package(self, name_or_arn: str) -> dict[str, Any]:
        return self.objects.get(PACKAGE, self._key(name_or_arn), "model package")

    def describe_package(self, name_or_arn: str) -> dict[str, Any]:
        row = self._package(name_or_arn)
        spec, state = row["spec"], row["state"]
        out: dict[str, Any] = {
            "ModelPackageName": spec.get("ModelPackageGroupName") or row["name"],
            "ModelPackageArn": arn("model-package", row["name"]), "CreationTime": iso(row["created_at"]),
            "InferenceSpecification": spec["InferenceSpecification"], "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": state["ModelApprovalStatus"], "LastModifiedTime": iso(state.get("LastModifiedTime")),
            "CreatedBy": {"UserProfileName": spec.get("CreatedBy")},
            "LastModifiedBy": {"UserProfileName": state.get("LastModifiedBy")},
            "ApprovalHistory": [{**h, "At": iso(h["At"])} for h in state.get("History") or []]}
        for key in ("ModelPackageGroupName", "ModelPackageVersion", "ModelPackageDescription", "ModelMetrics",
                    "CustomerMetadataProperties", "Domain", "Task", "SourcePipelineExecutionArn"):
            if spec.get(key) is not None:
                out[key] = spec[key]
        if state.get("ApprovalDescription"):
            out["ApprovalDescription"] = state["ApprovalDescription"]
        if state.get("Triggered"):
            out["TriggeredOnApproval"] = state["Triggered"]
        return out

    def list_packages(self, group: str | None = None, status: str | None = None,
                      order: str = "Descending") -> dict[str, Any]:
        if group is not None:
            self._group(group)
        rows = [r for r in self.objects.list(PACKAGE)
                if (group is None or r["spec"].get("ModelPackageGroupName") == group)
                and (status is None or r["state"]["ModelApprovalStatus"] == status)]
        rows.sort(key=lambda r: (r["created_at"], r["spec"].get("ModelPackageVersion") or 0),
                  reverse=order != "Ascending")
        return {"ModelPackageSummaryList": [
            {k: v for k, v in {
                "ModelPackageName": r["spec"].get("ModelPackageGroupName") or r["name"],
                "ModelPackageGroupName": r["spec"].get("ModelPackageGroupName"),
                "ModelPackageVersion": r["spec"].get("ModelPackageVersion"),
                "ModelPackageArn": arn("model-package", r["name"]),
                "ModelPackageDescription": r["spec"].get("ModelPackageDescription"),
                "CreationTime": iso(r["created_at"]), "ModelPackageStatus": "Completed",
                "ModelApprovalStatus": r["state"]["ModelApprovalStatus"]}.items() if v is not None}
            for r in rows]}

    def update_package(self, req: dict[str, Any]) -> dict[str, Any]:
        target = req.get("ModelPackageArn") or req.get("ModelPackageName")
        if not isinstance(target, str):
            raise ValidationError("UpdateModelPackage needs ModelPackageArn")
        with self._lock:  # two approvals at once: one of them is the change to Approved
            name, approved_now = self._update_locked(target, req)
        if approved_now:
            self._approved(name)
        return {"ModelPackageArn": arn("model-package", name)}

    def _update_locked(self, target: str, req: dict[str, Any]) -> tuple[str, bool]:
        row = self._package(target)
        state = dict(row["state"])
        spec = dict(row["spec"])
        status = req.get("ModelApprovalStatus")
        approved_now = False
        if status is not None:
            if status not in APPROVAL_STATUSES:
                raise ValidationError(f"ModelApprovalStatus {status!r} must be one of {', '.join(APPROVAL_STATUSES)}")
            approved_now = status == "Approved" and state["ModelApprovalStatus"] != "Approved"
            who = _who(req)
            state.update(ModelApprovalStatus=status, LastModifiedBy=who, LastModifiedTime=time.time(),
                         ApprovalDescription=req.get("ApprovalDescription"),
                         History=[*(state.get("History") or []), {"ModelApprovalStatus": status, "By": who,
                                                                 "At": time.time(),
                                                                 "Description": req.get("ApprovalDescription")}])
        if req.get("CustomerMetadataProperties"):
            spec["CustomerMetadataProperties"] = {**(spec.get("CustomerMetadataProperties") or {}),
                                                  **req["CustomerMetadataProperties"]}
        self.objects.update(PACKAGE, row["name"], spec=spec, state=state)
        return row["name"], approved_now

    def delete_package(self, name_or_arn: str) -> None:
        row = self._package(name_or_arn)
        self.objects.delete(PACKAGE, row["name"])

    # -- approval rules ---------------------------------------------------------------------------
    def find(self, source_execution: str, step: str) -> str | None:
        """The package a pipeline execution's step registered, if it did."""
        for r in self.objects.list(PACKAGE):
            if r["spec"].get("SourcePipelineExecutionArn") == source_execution and r["spec"].get("SourceStep") == step:
                return arn("model-package", r["name"])
        return None

    def _approved(self, name: str) -> None:
        """Start what the group's rules name, once per version, however often it is approved."""
        with self._lock:
            row = self.objects.get(PACKAGE, name)
            if row["state"].get("RulesRun"):
                return
            self.objects.update(PACKAGE, name, state=dict(row["state"], RulesRun=True))
        desc = self.describe_package(name)
        group = desc.get("ModelPackageGroupName")
        if not group:
            return
        rules = self._group(group)["spec"].get("Rules") or []
        container = (desc["InferenceSpecification"].get("Containers") or [{}])[0]
        event = {"ModelPackageGroupName": group, "ModelPackageVersion": desc.get("ModelPackageVersion"),
                 "ModelPackageArn": desc["ModelPackageArn"], "ModelApprovalStatus": "Approved",
                 "ModelDataUrl": container.get("ModelDataUrl"), "Image": container.get("Image")}
        started = []
        for rule in rules:
            try:
                if "Workflow" in rule:
                    execution = f"approved-{group}-v{desc.get('ModelPackageVersion')}"[:80]
                    self.control.workflows.start(rule["Workflow"], {"name": execution, "input": event})
                    started.append({"Workflow": rule["Workflow"], "Execution": execution})
                else:
                    params = [{"Name": p, "Value": event.get(field)} for p, field in rule["Parameters"].items()]
                    run = self.control.pipelines.start(rule["Pipeline"], {
                        "PipelineParameters": params,
                        "PipelineExecutionDescription": f"on approval of {desc['ModelPackageArn']}"})
                    started.append({"Pipeline": rule["Pipeline"], "PipelineExecutionArn": run["PipelineExecutionArn"]})
            except MlyardError as exc:  # the rule's target is gone or refuses: said in the version's record
                started.append({**rule, "Error": exc.message})
            except Exception as exc:  # a defect of ours: recorded, the approval itself stands
                started.append({**rule, "Error": f"mlyard failed to start it: {exc!r}"})
        if started:
            row = self.objects.get(PACKAGE, name)
            self.objects.update(PACKAGE, name, state=dict(row["state"], Triggered=[
                *(row["state"].get("Triggered") or []), *started]))


def _who(req: dict[str, Any]) -> str:
    who = req.get("MlyardUser")
    return str(who) if who else getpass.getuser()
