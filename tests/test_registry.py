"""The model registry through the SDK, the HTTP API and the CLI: groups, versions with inference
specifications and metrics, approval with who and when, approval rules that start a workflow or a
pipeline, ``ModelPackage(...).deploy()``, and ``RegisterModel`` in a pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from conftest import wait_for

from mlyard.errors import ConflictError, NotFoundError, ValidationError
from mlyard.model import ModelPackage
from mlyard.model_metrics import MetricsSource, ModelMetrics
from mlyard.sklearn.model import SKLearnModel


def fitted(tmp_path: Path, constant: float) -> Path:
    from sklearn.dummy import DummyRegressor

    folder = tmp_path / f"model-{constant}"
    folder.mkdir()
    joblib.dump(DummyRegressor(strategy="constant", constant=constant).fit([[0]], [0]), folder / "model.joblib")
    return folder


def test_versions_are_registered_approved_by_someone_and_deployed(session, tmp_path: Path) -> None:
    client = session.client
    assert session.create_model_package_group("churn", "churn models").endswith("model-package-group/churn")
    with pytest.raises(ConflictError):
        session.create_model_package_group("churn")
    metrics = ModelMetrics(model_statistics=MetricsSource("application/json", "s3://bucket/eval.json"))
    first = SKLearnModel(model_data=f"file://{fitted(tmp_path, 1.0)}", role="r", sagemaker_session=session).register(
        content_types=["text/csv"], response_types=["text/csv"], inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"], model_package_group_name="churn", model_metrics=metrics,
        description="first")
    second = SKLearnModel(model_data=f"file://{fitted(tmp_path, 2.0)}", role="r", sagemaker_session=session).register(
        content_types=["text/csv"], response_types=["text/csv"], model_package_group_name="churn")
    assert first.model_package_arn.endswith("model-package/churn/1")
    assert second.model_package_arn.endswith("model-package/churn/2")
    desc = first.describe()
    assert desc["ModelPackageVersion"] == 1 and desc["ModelApprovalStatus"] == "PendingManualApproval"
    assert desc["ModelMetrics"] == {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                                    "S3Uri": "s3://bucket/eval.json"}}}
    assert desc["InferenceSpecification"]["Containers"][0]["Framework"] == "sklearn"
    assert desc["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv"]
    listed = session.sagemaker_client.list_model_packages(ModelPackageGroupName="churn")["ModelPackageSummaryList"]
    assert [p["ModelPackageVersion"] for p in listed] == [2, 1]
    first.update_approval_status("Approved", "beats the baseline")
    approved = session.describe_model_package("churn/1")
    assert approved["ModelApprovalStatus"] == "Approved" and approved["ApprovalDescription"] == "beats the baseline"
    assert approved["LastModifiedBy"]["UserProfileName"] and approved["ApprovalHistory"][-1]["At"]
    assert [p["ModelPackageVersion"] for p in session.list_model_packages("churn", "Approved")] == [1]
    with pytest.raises(ValidationError, match="ModelApprovalStatus"):
        client.update_model_package({"ModelPackageArn": first.model_package_arn, "ModelApprovalStatus": "Maybe"})
    with pytest.raises(NotFoundError):
        session.describe_model_package("churn/9")
    with pytest.raises(ConflictError, match="still has model packages"):
        client.delete_model_package_group("churn")
    predictor = ModelPackage(role="r", model_package_arn=approved["ModelPackageArn"],
                             sagemaker_session=session).deploy(1, "local", endpoint_name="from-registry")
    try:
        assert np.ravel(predictor.predict([[5.0], [6.0]])).tolist() == [1.0, 1.0]
    finally:
        predictor.delete_endpoint()


def test_approving_a_version_starts_the_groups_workflow(session, tmp_path: Path) -> None:
    client = session.client
    client.create_workflow({"name": "deploy-approved", "definition": {"StartAt": "Echo", "States": {
        "Echo": {"Type": "Pass", "Parameters": {"arn.$": "$.ModelPackageArn", "data.$": "$.ModelDataUrl"},
                 "End": True}}}})
    session.create_model_package_group("fraud")
    client.set_approval_rules("fraud", [{"Workflow": "deploy-approved"}])
    with pytest.raises(NotFoundError):
        client.set_approval_rules("fraud", [{"Workflow": "absent"}])
    package = SKLearnModel(model_data=f"file://{fitted(tmp_path, 3.0)}", role="r", sagemaker_session=session).register(
        model_package_group_name="fraud")
    assert client.list_executions("deploy-approved") == []  # pending: nothing runs
    session.update_model_package_approval(package.model_package_arn, "Approved")
    done = wait_for(lambda: (d := client.wait_execution("deploy-approved", "approved-fraud-v1", 5))["status"]
                    != "RUNNING" and d, timeout=60)
    assert json.loads(done["output"])["arn"] == package.model_package_arn
    assert package.describe()["TriggeredOnApproval"] == [{"Workflow": "deploy-approved",
                                                          "Execution": "approved-fraud-v1"}]
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "mlyard", "models", "packages", "list", "--group", "fraud"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and "Approved" in out.stdout, out.stderr
    out = subprocess.run([sys.executable, "-m", "mlyard", "models", "packages", "reject", "fraud/1",
                          "--description", "drifted"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and "Rejected" in out.stdout, out.stderr
    assert session.describe_model_package("fraud/1")["ApprovalDescription"] == "drifted"


def test_a_pipeline_registers_its_model_and_approval_can_start_a_pipeline(session, tmp_path: Path) -> None:
    from conftest import write_script

    from mlyard.estimator import Estimator
    from mlyard.workflow.parameters import ParameterString
    from mlyard.workflow.pipeline import Pipeline
    from mlyard.workflow.pipeline_context import PipelineSession
    from mlyard.workflow.step_collections import RegisterModel
    from mlyard.workflow.steps import TrainingStep

    ps = PipelineSession(client=session.client)
    write_script(tmp_path, "fit.py", """
        import os
        import joblib
        from sklearn.dummy import DummyRegressor
        joblib.dump(DummyRegressor(strategy="constant", constant=4.0).fit([[0]], [0]),
                    os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    """)
    session.create_model_package_group("pipelined")
    status = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval",
                             enum_values=["PendingManualApproval", "Approved"])
    train = TrainingStep("Train", step_args=Estimator(entry_point=str(tmp_path / "fit.py"), role="r",
                                                      instance_type="local", sagemaker_session=ps).fit())
    model = SKLearnModel(model_data=train.properties.ModelArtifacts.S3ModelArtifacts, role="r",
                         sagemaker_session=ps)
    register = RegisterModel("Register", model=model, content_types=["text/csv"], response_types=["text/csv"],
                             model_package_group_name="pipelined", approval_status=status)
    pipeline = Pipeline("registers", parameters=[status], steps=[train, register], sagemaker_session=ps)
    assert [s["Type"] for s in json.loads(pipeline.definition())["Steps"]] == ["Training", "RegisterModel"]
    pipeline.upsert()
    # approving a version of the group re-runs this same pipeline with the version approved
    session.client.set_approval_rules("pipelined", [{"Pipeline": "registers", "Parameters": {}}])
    execution = pipeline.start()
    execution.wait(delay=1, max_attempts=120)
    step = {s["StepName"]: s for s in execution.list_steps()}["Register-RegisterModel"]
    version = session.describe_model_package(step["Metadata"]["RegisterModel"]["Arn"])
    assert version["ModelPackageVersion"] == 1 and version["ModelApprovalStatus"] == "PendingManualApproval"
    assert version["SourcePipelineExecutionArn"] == execution.arn
    trained = execution.result("Train")["ModelArtifacts"]["S3ModelArtifacts"]
    assert version["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == trained
    session.update_model_package_approval(version["ModelPackageArn"], "Approved")
    (started,) = session.describe_model_package("pipelined/1")["TriggeredOnApproval"]
    assert started["Pipeline"] == "registers"
    from mlyard.workflow.pipeline import _PipelineExecution

    again = _PipelineExecution(started["PipelineExecutionArn"], sagemaker_session=session)
    assert again.wait(delay=1, max_attempts=120)["PipelineExecutionStatus"] == "Succeeded"
    assert [p["ModelPackageVersion"] for p in session.list_model_packages("pipelined")] == [2, 1]
