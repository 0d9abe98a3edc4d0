"""SageMaker Pipelines' expressions (``mlyard.workflow``): parameters, execution variables, step
properties, Join, JsonGet and conditions, as the pipeline definition holds them."""

from __future__ import annotations

import pytest

from mlyard.errors import ValidationError
from mlyard.workflow.conditions import (
    ConditionEquals,
    ConditionGreaterThanOrEqualTo,
    ConditionIn,
    ConditionLessThanOrEqualTo,
    ConditionNot,
    ConditionOr,
)
from mlyard.workflow.execution_variables import ExecutionVariables
from mlyard.workflow.functions import Join, JsonGet
from mlyard.workflow.parameters import ParameterBoolean, ParameterFloat, ParameterInteger, ParameterString
from mlyard.workflow.properties import Properties, PropertyFile


def test_parameters_are_declared_typed_and_referred_to() -> None:
    count = ParameterInteger("TrainingInstanceCount", default_value=1)
    kind = ParameterString("InstanceType", default_value="local", enum_values=["local", "ml.m5.xlarge"])
    assert count.expr == {"Get": "Parameters.TrainingInstanceCount"}
    assert count.to_request() == {"Name": "TrainingInstanceCount", "Type": "Integer", "DefaultValue": 1}
    assert kind.to_request() == {"Name": "InstanceType", "Type": "String", "DefaultValue": "local",
                                 "EnumValues": ["local", "ml.m5.xlarge"]}
    assert ParameterFloat("MaxMSE", 6000).to_request() == {"Name": "MaxMSE", "Type": "Float", "DefaultValue": 6000.0}
    assert ParameterBoolean("Deploy").to_request() == {"Name": "Deploy", "Type": "Boolean"}
    assert count.check(2, "TrainingInstanceCount") == 2
    with pytest.raises(ValidationError, match="must be a Integer, not '2'"):
        count.check("2", "TrainingInstanceCount")
    with pytest.raises(ValidationError, match="must be a Integer, not True"):
        count.check(True, "TrainingInstanceCount")
    with pytest.raises(ValidationError, match="must be one of"):
        kind.check("ml.p3.2xlarge", "InstanceType")
    with pytest.raises(ValidationError, match="default value 'gpu' is not one of"):
        ParameterString("Kind", default_value="gpu", enum_values=["cpu"])
    with pytest.raises(ValidationError, match="must be a Float"):
        ParameterFloat("F", default_value="high")  # type: ignore[arg-type]


def test_variables_are_not_python_values() -> None:
    count = ParameterInteger("Count", default_value=1)
    with pytest.raises(TypeError, match=r"Use \.to_string\(\) or Join"):
        str(count)
    with pytest.raises(TypeError, match="Join"):
        count + "x"  # type: ignore[operator]
    with pytest.raises(TypeError, match="no Python number"):
        int(count)
    assert count.to_string().expr == {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Count"}]}}


def test_properties_functions_and_conditions_write_their_expressions() -> None:
    train = Properties("Train")
    artifacts = train.ModelArtifacts.S3ModelArtifacts
    assert artifacts.expr == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    output = Properties("Process").ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri
    assert output.expr == {"Get": "Steps.Process.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}
    assert Properties("Tune").TrainingJobSummaries[0].TrainingJobName.expr == {
        "Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"}
    assert ExecutionVariables.PIPELINE_EXECUTION_ID.expr == {"Get": "Execution.PipelineExecutionId"}
    uri = Join(on="/", values=["s3://bucket", ExecutionVariables.PIPELINE_EXECUTION_ID, "model"])
    assert uri.expr == {"Std:Join": {"On": "/", "Values": [
        "s3://bucket", {"Get": "Execution.PipelineExecutionId"}, "model"]}}

    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    assert report.expr == {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation",
                           "FilePath": "evaluation.json"}
    mse = JsonGet(step_name="Evaluate", property_file=report, json_path="regression_metrics.mse.value")
    assert mse.expr == {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                                        "Path": "regression_metrics.mse.value"}}
    with pytest.raises(ValidationError, match="json_path"):
        JsonGet(step_name="Evaluate", property_file=report, json_path="")

    limit = ParameterFloat("MaxMSE", default_value=6000.0)
    gate = ConditionLessThanOrEqualTo(left=mse, right=limit)
    assert gate.to_request() == {"Type": "LessThanOrEqualTo", "LeftValue": mse.expr,
                                 "RightValue": {"Get": "Parameters.MaxMSE"}}
    either = ConditionOr([ConditionEquals(ParameterString("Stage", "dev"), "prod"),
                          ConditionNot(ConditionGreaterThanOrEqualTo(limit, 10))])
    assert either.to_request() == {"Type": "Or", "Conditions": [
        {"Type": "Equals", "LeftValue": {"Get": "Parameters.Stage"}, "RightValue": "prod"},
        {"Type": "Not", "Expression": {"Type": "GreaterThanOrEqualTo", "LeftValue": {"Get": "Parameters.MaxMSE"},
                                       "RightValue": 10}}]}
    assert ConditionIn(ParameterString("Stage"), ["dev", "prod"]).to_request() == {
        "Type": "In", "QueryValue": {"Get": "Parameters.Stage"}, "Values": ["dev", "prod"]}
    with pytest.raises(ValidationError, match="non-empty list"):
        ConditionIn(limit, [])


def test_the_expression_modules_are_reachable_as_sagemaker_workflow_s() -> None:
    import mlyard

    assert mlyard.workflow.parameters.ParameterInteger is ParameterInteger
    assert mlyard.workflow.functions.JsonGet is JsonGet
    assert mlyard.workflow.steps.TrainingStep.__name__ == "TrainingStep"
    assert mlyard.workflow.pipeline.Pipeline.__name__ == "Pipeline"
    with pytest.raises(AttributeError, match=r"does not provide sagemaker\.workflow\.notebook_job_step yet"):
        mlyard.workflow.notebook_job_step  # noqa: B018


def test_retry_policies_take_attempts_or_minutes() -> None:
    from mlyard.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )

    policy = SageMakerJobStepRetryPolicy(exception_types=[SageMakerJobExceptionTypeEnum.CAPACITY_ERROR],
                                         max_attempts=3, interval_seconds=2)
    assert policy.to_request() == {"ExceptionType": ["SageMaker.CAPACITY_ERROR"], "IntervalSeconds": 2,
                                   "BackoffRate": 2.0, "MaxAttempts": 3}
    assert StepRetryPolicy([StepExceptionTypeEnum.THROTTLING], expire_after_mins=5).to_request()[
        "ExpireAfterMin"] == 5
    with pytest.raises(ValidationError, match="exactly one"):
        StepRetryPolicy([StepExceptionTypeEnum.THROTTLING], max_attempts=2, expire_after_mins=5)
    with pytest.raises(ValidationError, match="exactly one"):
        StepRetryPolicy([StepExceptionTypeEnum.THROTTLING])
    with pytest.raises(ValidationError, match="StepExceptionTypeEnum"):
        StepRetryPolicy(["Step.THROTTLING"], max_attempts=1)  # type: ignore[list-item]


def test_fail_and_condition_steps_and_caching_write_their_requests() -> None:
    from mlyard.workflow.condition_step import ConditionStep
    from mlyard.workflow.fail_step import FailStep
    from mlyard.workflow.steps import CacheConfig

    limit = ParameterFloat("MaxMSE", default_value=6000.0)
    fail = FailStep("MSEAboveLimit", error_message=Join(on=" ", values=["MSE above", limit]))
    mse = JsonGet(step_name="Evaluate", property_file="EvaluationReport", json_path="mse")
    gate = ConditionStep("CheckMSE", conditions=[ConditionLessThanOrEqualTo(mse, limit)], if_steps=[],
                         else_steps=[fail], depends_on=["Evaluate"])
    assert gate.to_request() == {
        "Name": "CheckMSE", "Type": "Condition", "DependsOn": ["Evaluate"], "Arguments": {
            "Conditions": [{"Type": "LessThanOrEqualTo", "LeftValue": mse.expr, "RightValue": limit.expr}],
            "IfSteps": [], "ElseSteps": [{"Name": "MSEAboveLimit", "Type": "Fail", "Arguments": {
                "ErrorMessage": {"Std:Join": {"On": " ", "Values": ["MSE above", {"Get": "Parameters.MaxMSE"}]}}}}]}}
    assert gate.properties.Outcome.expr == {"Get": "Steps.CheckMSE.Outcome"}
    assert CacheConfig(enable_caching=True, expire_after="P30D").config == {
        "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"}}
    with pytest.raises(ValidationError, match="ISO 8601"):
        CacheConfig(enable_caching=True, expire_after="30 days")
    with pytest.raises(ValidationError, match="step name"):
        FailStep("has space")
    with pytest.raises(ValidationError, match="conditions are Condition"):
        ConditionStep("C", conditions=["mse < 1"])  # type: ignore[list-item]


def test_the_dag_comes_from_references_and_depends_on_and_refuses_cycles_and_unknown_steps() -> None:
    from mlyard.workflow.condition_step import ConditionStep
    from mlyard.workflow.fail_step import FailStep
    from mlyard.workflow.graph import pipeline_graph, topological_order

    process = {"Name": "Process", "Type": "Processing", "Arguments": {}}
    train = {"Name": "Train", "Type": "Training", "Arguments": {"InputDataConfig": [{"DataSource": {"S3DataSource": {
        "S3Uri": Properties("Process").ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri.expr}}}]}}
    evaluate = {"Name": "Evaluate", "Type": "Processing", "Arguments": {"ProcessingInputs": [
        {"S3Input": {"S3Uri": Properties("Train").ModelArtifacts.S3ModelArtifacts.expr}}]}}
    report = {"Name": "Report", "Type": "Processing", "Arguments": {}, "DependsOn": ["Process"]}
    gate = ConditionStep("Gate", conditions=[ConditionLessThanOrEqualTo(
        JsonGet(step_name="Evaluate", property_file="Metrics", json_path="mse"), 3000)],
        else_steps=[FailStep("TooHigh", error_message="mse too high")]).to_request()
    definition = {"Steps": [process, train, evaluate, report, gate]}
    graph = pipeline_graph(definition)
    assert graph == {"Process": [], "Train": ["Process"], "Evaluate": ["Train"], "Report": ["Process"],
                     "Gate": ["Evaluate"], "TooHigh": ["Gate"]}
    assert topological_order(graph) == ["Process", "Train", "Report", "Evaluate", "Gate", "TooHigh"]

    loop = {"Steps": [dict(process, DependsOn=["Evaluate"]), train, evaluate]}
    with pytest.raises(ValidationError, match="cycle: Process -> Evaluate -> Train -> Process"):
        topological_order(pipeline_graph(loop))
    stray = {"Steps": [process, {"Name": "Train", "Type": "Training", "Arguments": {"Model": {"Get": "Steps.Nope.X"}}}]}
    with pytest.raises(ValidationError, match="step 'Train' refers in Arguments.Model to step 'Nope', which is not"):
        pipeline_graph(stray)
    with pytest.raises(ValidationError, match="used twice"):
        pipeline_graph({"Steps": [process, process]})


def test_a_definition_compiles_to_a_graph_with_retries_branches_and_reused_steps() -> None:
    from mlyard.workflow.compile import compile_pipeline
    from mlyard.workflow.expressions import ExpressionError, evaluate_conditions

    definition = {"Parameters": [], "Steps": [
        {"Name": "Train", "Type": "Training", "Arguments": {},
         "RetryPolicies": [{"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 1,
                            "BackoffRate": 2.0, "ExpireAfterMin": 1}]},
        {"Name": "Gate", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "GreaterThan", "LeftValue": {"Get": "Steps.Train.FinalMetricDataList[0].Value"},
                            "RightValue": 1}],
            "IfSteps": [{"Name": "Ok", "Type": "Fail", "Arguments": {}}], "ElseSteps": []}}]}
    nodes = compile_pipeline(definition)["States"]["Pipeline"]["Nodes"]
    train = nodes["Train"]["Machine"]["States"]["Train"]
    # waits of 1, 2, 4, 8, 16 s fit in a minute; the sixth (32 s) does not
    assert train["Retry"] == [{"ErrorEquals": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 1.0,
                               "BackoffRate": 2.0, "MaxAttempts": 5}]
    assert nodes["Gate"]["After"] == ["Train"] and nodes["Ok"]["When"] == [["Gate", True]]
    reused = compile_pipeline(definition, ["Gate", "Ok"], {"Train": {"FinalMetricDataList": []}})
    assert reused["States"]["Pipeline"]["Nodes"]["Train"]["Machine"]["States"]["Train"] == {
        "Type": "Pass", "Result": {"FinalMetricDataList": []}, "End": True}
    conditions = [{"Type": "GreaterThanOrEqualTo", "LeftValue": 2, "RightValue": 2.0},
                  {"Type": "LessThan", "LeftValue": "a", "RightValue": "b"},
                  {"Type": "In", "QueryValue": "x", "Values": ["x", "y"]},
                  {"Type": "Not", "Expression": {"Type": "Equals", "LeftValue": True, "RightValue": False}},
                  {"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 2},
                                                {"Type": "LessThanOrEqualTo", "LeftValue": 1, "RightValue": 1}]}]
    assert evaluate_conditions(conditions)
    assert not evaluate_conditions([{"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1,
                                                                    "RightValue": 2}]}])
    with pytest.raises(ExpressionError, match=r"Conditions\[0\]: In compares 1 \(a number\) with 'x'"):
        evaluate_conditions([{"Type": "In", "QueryValue": 1, "Values": ["x"]}])
