"""The Step Functions Data Science SDK's API (mlyard.stepfunctions): the States Language the steps
write, placeholders, and workflows created and run on the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlyard.stepfunctions import steps
from mlyard.stepfunctions.inputs import ExecutionInput, StepInput
from mlyard.stepfunctions.steps import ChoiceRule
from mlyard.stepfunctions.workflow import ExecutionStatus, Workflow
from mlyard.workflow import problems


def test_steps_write_the_states_language_with_placeholders_as_paths() -> None:
    execution_input = ExecutionInput(schema={"JobName": str, "Epochs": int})
    start = steps.Pass("Start", parameters={"name": execution_input["JobName"], "fixed": {"x": 1}},
                       result_path="$.start")
    train = steps.Task("Train", resource="arn:aws:states:::sagemaker:createTrainingJob.sync",
                       parameters={"TrainingJobName": execution_input["JobName"]}, timeout_seconds=600,
                       retry=steps.Retry(error_equals=["States.TaskFailed"], interval_seconds=5, max_attempts=2,
                                         backoff_rate=1.5))
    failed = steps.Fail("Failed", error="TrainingFailed", cause="the training job failed")
    train.add_catch(steps.Catch(next_step=failed, error_equals=["States.ALL"], result_path="$.error"))
    gate = steps.Choice("Gate")
    done = steps.Succeed("Done")
    gate.add_choice(ChoiceRule.NumericLessThan(variable=train.output()["mse"], value=3000), done)
    gate.add_choice(ChoiceRule.And([ChoiceRule.IsPresent("$.mse", True),
                                    ChoiceRule.Not(ChoiceRule.StringEquals("$.kind", "big"))]), done)
    gate.default_choice(failed)
    chain = steps.Chain([start, train, gate])
    definition = steps.Graph(chain, timeout_seconds=3600).to_dict()
    assert definition["StartAt"] == "Start" and definition["TimeoutSeconds"] == 3600
    assert definition["States"]["Start"] == {"Type": "Pass", "Parameters": {
        "name.$": "$$.Execution.Input['JobName']", "fixed": {"x": 1}}, "ResultPath": "$.start", "Next": "Train"}
    assert definition["States"]["Train"] == {
        "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
        "Parameters": {"TrainingJobName.$": "$$.Execution.Input['JobName']"}, "TimeoutSeconds": 600,
        "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 5, "MaxAttempts": 2, "BackoffRate": 1.5}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}], "Next": "Gate"}
    assert definition["States"]["Gate"] == {"Type": "Choice", "Choices": [
        {"Variable": "$['mse']", "NumericLessThan": 3000, "Next": "Done"},
        {"And": [{"Variable": "$.mse", "IsPresent": True}, {"Not": {"Variable": "$.kind", "StringEquals": "big"}}],
         "Next": "Done"}], "Default": "Failed"}
    assert definition["States"]["Done"] == {"Type": "Succeed"}
    assert definition["States"]["Failed"] == {"Type": "Fail", "Error": "TrainingFailed",
                                              "Cause": "the training job failed"}
    assert problems(definition) == []  # what the SDK writes, the engine takes


def test_parallel_map_and_wait_and_what_is_refused() -> None:
    parallel = steps.Parallel("Both")
    parallel.add_branch(steps.Pass("Left"))
    parallel.add_branch(steps.Chain([steps.Wait("Pause", seconds=1), steps.Pass("Right")]))
    each = steps.Map("Each", items_path="$.items", max_concurrency=2, iterator=steps.Pass("Item"))
    parallel.next(each)
    definition = steps.Graph(parallel).to_dict()
    assert definition["States"]["Both"]["Branches"][1] == {"StartAt": "Pause", "States": {
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Right"}, "Right": {"Type": "Pass", "End": True}}}
    assert definition["States"]["Each"] == {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                                            "Iterator": {"StartAt": "Item", "States": {
                                                "Item": {"Type": "Pass", "End": True}}}, "End": True}
    assert problems(definition) == []
    with pytest.raises(TypeError, match="unexpected argument 'resource'"):
        steps.Pass("P", resource="x")
    with pytest.raises(ValueError, match="exactly one of seconds"):
        steps.Wait("W", seconds=1, timestamp="2026-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="not both"):
        steps.Task("T", timeout_seconds=1, timeout_seconds_path="$.t")
    with pytest.raises(ValueError, match="has no next state"):
        steps.Succeed("S").next(steps.Pass("P"))
    with pytest.raises(steps.DuplicateStatesInChain):
        p = steps.Pass("P")
        steps.Chain([p, p])
    with pytest.raises(ValueError, match="compares with int or float"):
        ChoiceRule.NumericEquals("$.x", "3")


def test_placeholders_validate_the_execution_input() -> None:
    schema = ExecutionInput(schema={"Model": {"Name": str, "Size": int}, "Fast": bool})
    assert schema["Model"]["Name"].to_jsonpath() == "$$.Execution.Input['Model']['Name']"
    assert schema.validate({"Model": {"Name": "m", "Size": 3}, "Fast": True}).valid
    bad = schema.validate({"Model": {"Size": True}})
    assert not bad.valid and bad.keys_missing == ["Model.Name", "Fast"]
    assert [k for k, _, _ in bad.keys_type_mismatch] == ["Model.Size"]
    assert json.loads(schema.get_schema_as_json()) == {"Model": {"Name": "str", "Size": "int"}, "Fast": "bool"}
    with pytest.raises(ValueError, match="not in the schema"):
        schema["Other"]
    free = StepInput()
    assert free["a"]["b"].to_jsonpath() == "$['a']['b']"


def test_a_workflow_is_created_executed_and_inspected_from_the_sdk(session, tmp_path: Path) -> None:
    execution_input = ExecutionInput(schema={"mse": int})
    gate = steps.Choice("Gate")
    gate.add_choice(ChoiceRule.NumericLessThan(execution_input["mse"], 3000), steps.Pass("Deploy", result="ok"))
    gate.default_choice(steps.Fail("TooHigh", error="QualityGate", cause="the model is not good enough"))
    flow = Workflow("sdk-gate", steps.Chain([steps.Pass("Start"), gate]), role="role",
                    execution_input=execution_input, client=session)
    print(flow.definition.to_json(pretty=True))
    arn = flow.create()
    assert arn.endswith("stateMachine/sdk-gate") and flow.create() == arn  # a second create leaves it as it is
    good = flow.execute(inputs={"mse": 2000})
    assert good.get_output(wait=True) == "ok" and good.status == ExecutionStatus.Succeeded
    bad = flow.execute(name="second", inputs={"mse": 5000})
    assert bad.get_output(wait=True) is None
    assert bad.describe()["error"] == "QualityGate"
    with pytest.raises(ValueError, match="does not match"):
        flow.execute(inputs={"mse": "low"})
    events = bad.list_events(reverse_order=True, max_items=2)
    assert [e["type"] for e in events] == ["ExecutionFailed", "FailStateEntered"]
    page = bad.list_events(html=True)
    assert "FailStateEntered" in page._repr_html_() and "<script" not in page._repr_html_()
    assert page.save(tmp_path / "events.html").read_text().startswith("<!DOCTYPE html>")
    assert {e.name for e in flow.list_executions()} == {good.name, "second"}
    assert "#DE322F" in flow.list_executions(html=True)._repr_html_()  # the failed one in Step Functions' red
    attached = Workflow.attach(arn, client=session)
    assert attached.definition.to_dict() == flow.definition.to_dict()
    assert [w["name"] for w in Workflow.list_workflows(client=session)] == ["sdk-gate"]
    assert "AWS::StepFunctions::StateMachine" in flow.get_cloudformation_template()
    flow.delete()
    assert Workflow.list_workflows(client=session) == []


def test_render_graph_and_progress_are_self_contained_svg(session, tmp_path: Path) -> None:
    check = steps.Choice("Check")
    check.add_choice(ChoiceRule.BooleanEquals("$.ok", True), steps.Succeed("Fine"))
    check.default_choice(steps.Fail("Broken", error="NotOk"))
    flow = Workflow("drawn", steps.Chain([steps.Pass("Start"), check]), role="role", client=session)
    graph = flow.render_graph()._repr_html_()
    assert graph.count("<rect") == 4 and "<script" not in graph and "http" not in graph.replace(
        "http://www.w3.org/2000/svg", "")
    flow.create()
    failed = flow.execute(inputs={"ok": False})
    failed.get_output(wait=True)
    progress = failed.render_progress()
    html = progress._repr_html_()
    assert "#DE322F" in html and "Broken (Fail): FAILED" in html  # the state that failed, in red
    assert "Start (Pass): SUCCEEDED" in html and "#2BD62E" in html
    assert progress.save(tmp_path / "progress.html").stat().st_size > 500


def test_the_training_pipeline_template_passes_its_requests_as_the_execution_input(session, tmp_path: Path) -> None:
    from conftest import write_script

    from mlyard.estimator import Estimator
    from mlyard.stepfunctions.template.pipeline import TrainingPipeline

    write_script(tmp_path, "train.py", "print('training')\n")
    estimator = Estimator(entry_point=str(tmp_path / "train.py"), role="role", instance_type="local",
                          image_uri="mlyard/sklearn:1.2")
    pipeline = TrainingPipeline(estimator, role="role", inputs=None, s3_bucket="bucket", client=session,
                                pipeline_name="tp")
    definition = pipeline.workflow.definition.to_dict()
    assert list(definition["States"]) == ["Training", "Create Model", "Configure Endpoint", "Deploy"]
    assert definition["States"]["Training"]["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert definition["States"]["Deploy"]["Parameters"] == {
        "EndpointName.$": "$$.Execution.Input['Deploy'].EndpointName",
        "EndpointConfigName.$": "$$.Execution.Input['Deploy'].EndpointConfigName"}
    assert problems(definition) == []
    assert pipeline.input_template["Training"]["HyperParameters"]["sagemaker_submit_directory"].startswith('"s3://')
    with pytest.raises(TypeError, match="pipeline_name"):
        TrainingPipeline(estimator, role="role", inputs=None, s3_bucket="bucket", client=session, other=1)


def test_transform_and_tuning_steps_write_their_requests(session, tmp_path: Path) -> None:
    from conftest import write_script

    from mlyard.estimator import Estimator
    from mlyard.stepfunctions.steps.sagemaker import TransformStep, TuningStep
    from mlyard.transformer import Transformer
    from mlyard.tuner import ContinuousParameter, HyperparameterTuner

    names = ExecutionInput(schema={"Model": str, "Job": str})
    transformer = Transformer("any-model", instance_count=2, instance_type="local", strategy="MultiRecord",
                              assemble_with="Line", accept="text/csv", output_path="s3://bucket/out")
    transform = TransformStep("Transform", transformer, job_name=names["Job"], model_name=names["Model"],
                              data="s3://bucket/in", content_type="text/csv", split_type="Line")
    params = transform.to_dict()["Parameters"]
    assert transform.to_dict()["Resource"] == "arn:aws:states:::sagemaker:createTransformJob.sync"
    assert params["ModelName.$"] == "$$.Execution.Input['Model']" and params["TransformJobName.$"] == \
        "$$.Execution.Input['Job']"
    assert params["TransformInput"]["SplitType"] == "Line" and params["TransformResources"]["InstanceCount"] == 2

    write_script(tmp_path, "train.py", "print('objective: 0.5')\n")
    est = Estimator(entry_point=str(tmp_path / "train.py"), role="r", instance_type="local")
    tuner = HyperparameterTuner(est, "objective", {"lr": ContinuousParameter(0.0, 1.0)},
                                [{"Name": "objective", "Regex": "objective: ([0-9.]+)"}], max_jobs=2,
                                max_parallel_jobs=1)
    tuning = TuningStep("Tune", tuner, job_name="wf-tune", wait_for_completion=False).to_dict()
    assert tuning["Resource"] == "arn:aws:states:::sagemaker:createHyperParameterTuningJob"
    assert tuning["Parameters"]["HyperParameterTuningJobName"] == "wf-tune"
    static = tuning["Parameters"]["TrainingJobDefinition"]["StaticHyperParameters"]
    assert json.loads(static["sagemaker_submit_directory"]).startswith("s3://")  # the source was uploaded
    assert problems(steps.Graph(steps.Chain([steps.Task("T", resource="x"), steps.Pass("P")])).to_dict()) == []
