"""SageMaker pipelines on the control plane, with real jobs: the definition, the DAG (data
references and depends_on; independent steps at once), every step type, caching (hits name the
execution reused, misses say what changed), retrying a failed execution from the step that failed,
selective execution, a server restart during an execution, and bad input refused or failed with
the step and field named."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import stop_local_server, wait_for, write_script

from mlyard.errors import UnexpectedStatusException, ValidationError
from mlyard.estimator import Estimator
from mlyard.inputs import TrainingInput
from mlyard.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from mlyard.workflow.condition_step import ConditionStep
from mlyard.workflow.conditions import ConditionGreaterThan, ConditionLessThanOrEqualTo
from mlyard.workflow.fail_step import FailStep
from mlyard.workflow.functions import Join, JsonGet
from mlyard.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from mlyard.workflow.pipeline import Pipeline
from mlyard.workflow.pipeline_context import PipelineSession
from mlyard.workflow.properties import PropertyFile
from mlyard.workflow.selective_execution_config import SelectiveExecutionConfig
from mlyard.workflow.steps import CacheConfig, ProcessingStep, TrainingStep

PREPARE = """
    import json, os, sys
    host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
    rows = open("/opt/ml/processing/input/rows.csv").read().splitlines()
    os.makedirs("/opt/ml/processing/train", exist_ok=True)
    open(f"/opt/ml/processing/train/{host}.csv", "w").write("\\n".join(rows) + "\\n")
    os.makedirs("/opt/ml/processing/evaluation", exist_ok=True)
    quality = float(sys.argv[sys.argv.index("--quality") + 1])
    json.dump({"metrics": {"quality": {"value": quality}}}, open("/opt/ml/processing/evaluation/report.json", "w"))
    print(host, "prepared", len(rows), "rows")
"""
TRAIN = """
    import json, os, sys
    files = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
    hps = json.loads(os.environ["SM_HPS"])
    marker = hps.get("needs")
    if marker and not os.path.exists(marker):
        raise RuntimeError(f"no {marker} yet")
    print("training on", files, "epochs", hps["epochs"])
    json.dump({"files": files, "epochs": hps["epochs"]}, open(os.path.join(os.environ["SM_MODEL_DIR"], "m.json"), "w"))
"""


def build(tmp_path: Path, session: Any, name: str = "quality", train_script: str = TRAIN,
          hyperparameters: dict[str, Any] | None = None, cache: bool = True) -> tuple[Pipeline, dict[str, Any]]:
    """Process (on ProcessingInstanceCount instances) -> Gate on the report's quality -> Train, or
    Fail."""
    ps = PipelineSession(client=session.client)
    write_script(tmp_path / "code", "prepare.py", PREPARE)
    write_script(tmp_path / "code", "train.py", train_script)
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "rows.csv").write_text("1,2\n3,4\n5,6\n")
    count = ParameterInteger("ProcessingInstanceCount", default_value=1)
    quality = ParameterFloat("Quality", default_value=0.9)
    minimum = ParameterFloat("MinQuality", default_value=0.5)
    epochs = ParameterString("Epochs", default_value="3")
    processor = ScriptProcessor(command=["python3"], role="r", instance_type="local", instance_count=count,
                                sagemaker_session=ps)
    report = PropertyFile(name="report", output_name="evaluation", path="report.json")
    process = ProcessingStep("Process", step_args=processor.run(
        code=str(tmp_path / "code" / "prepare.py"),
        inputs=[ProcessingInput(source=str(tmp_path / "data"), destination="/opt/ml/processing/input",
                                s3_data_distribution_type="FullyReplicated")],
        outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                 ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")],
        arguments=["--quality", quality.to_string()]),
        property_files=[report], cache_config=CacheConfig(enable_caching=cache, expire_after="P1D"))
    estimator = Estimator(entry_point=str(tmp_path / "code" / "train.py"), role="r", instance_type="local",
                          sagemaker_session=ps, hyperparameters={"epochs": epochs, **(hyperparameters or {})})
    train = TrainingStep("Train", step_args=estimator.fit(inputs={"train": TrainingInput(
        s3_data=process.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri)}))
    fail = FailStep("TooLow", error_message=Join(on=" ", values=["quality below", minimum]))
    gate = ConditionStep("Gate", conditions=[ConditionGreaterThan(
        JsonGet(step_name="Process", property_file=report, json_path="metrics.quality.value"), minimum)],
        if_steps=[train], else_steps=[fail])
    pipeline = Pipeline(name, parameters=[count, quality, minimum, epochs], steps=[process, gate],
                        sagemaker_session=ps)
    return pipeline, {"process": process, "train": train, "gate": gate}


def steps_of(execution: Any) -> dict[str, dict[str, Any]]:
    return {s["StepName"]: s for s in execution.list_steps()}


def job_of(step: dict[str, Any], field: str) -> str:
    return str(step["Metadata"][field]["Arn"].rsplit("/", 1)[-1])


def test_a_pipeline_runs_its_dag_on_real_jobs_and_says_what_each_step_did(session, tmp_path: Path) -> None:
    pipeline, steps = build(tmp_path, session)
    definition = json.loads(pipeline.definition())
    assert [s["Name"] for s in definition["Steps"]] == ["Process", "Gate"]
    assert definition["Parameters"][0] == {"Name": "ProcessingInstanceCount", "Type": "Integer", "DefaultValue": 1}
    train_args = definition["Steps"][1]["Arguments"]["IfSteps"][0]["Arguments"]
    assert train_args["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Get": "Steps.Process.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}
    assert "TrainingJobName" not in train_args
    assert pipeline.upsert(role_arn="r")["PipelineArn"].endswith("pipeline/quality")
    execution = pipeline.start(parameters={"ProcessingInstanceCount": 2, "Epochs": "5"})
    desc = execution.wait(delay=1, max_attempts=120)
    assert desc["PipelineExecutionStatus"] == "Succeeded"
    assert {"Name": "ProcessingInstanceCount", "Value": 2} in desc["PipelineParameters"]
    found = steps_of(execution)
    assert set(found) == {"Process", "Gate", "Train"}  # the else branch did not run
    assert all(s["StepStatus"] == "Succeeded" for s in found.values())
    assert found["Gate"]["Metadata"]["Condition"] == {"Outcome": "true"}
    process = session.describe_processing_job(job_of(found["Process"], "ProcessingJob"))
    assert process["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    training = session.describe_training_job(job_of(found["Train"], "TrainingJob"))
    assert training["HyperParameters"]["epochs"] == "5"
    model = execution.result("Train")["ModelArtifacts"]["S3ModelArtifacts"]
    assert model == training["ModelArtifacts"]["S3ModelArtifacts"]
    from mlyard.s3 import S3Downloader

    trained = S3Downloader.list(training["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"],
                                sagemaker_session=session)
    assert sorted(u.rsplit("/", 1)[-1] for u in trained) == ["algo-1.csv", "algo-2.csv"]
    assert [e["PipelineExecutionArn"] for e in pipeline.list_executions()["PipelineExecutionSummaries"]] == [
        execution.arn]
    assert json.loads(pipeline.describe()["PipelineDefinition"]) == definition


def test_the_else_branch_fails_the_execution_with_its_message(session, tmp_path: Path) -> None:
    pipeline, _ = build(tmp_path, session, "gated")
    pipeline.upsert()
    execution = pipeline.start(parameters={"Quality": 0.2})
    with pytest.raises(UnexpectedStatusException, match="quality below 0.5"):
        execution.wait(delay=1, max_attempts=120)
    found = steps_of(execution)
    assert set(found) == {"Process", "Gate", "TooLow"}
    assert found["TooLow"]["StepStatus"] == "Failed" and found["TooLow"]["FailureReason"] == "quality below 0.5"
    assert found["Gate"]["Metadata"]["Condition"] == {"Outcome": "false"}
    assert execution.describe()["PipelineExecutionStatus"] == "Failed"


def test_a_second_run_reuses_cached_steps_and_a_changed_argument_is_named(session, tmp_path: Path) -> None:
    pipeline, _ = build(tmp_path, session, "cached")
    pipeline.upsert()
    first = pipeline.start()
    first.wait(delay=1, max_attempts=120)
    assert steps_of(first)["Process"]["CacheMissReason"] == "the step has not run before with caching on"
    second = pipeline.start()
    second.wait(delay=1, max_attempts=120)
    process = steps_of(second)["Process"]
    assert process["CacheHitResult"] == {"SourcePipelineExecutionArn": first.arn}
    assert job_of(process, "ProcessingJob") == job_of(steps_of(first)["Process"], "ProcessingJob")
    assert len(session.client.list_jobs(kind="processing")) == 1
    assert "CacheHitResult" not in steps_of(second)["Train"]  # no cache config: it ran again
    third = pipeline.start(parameters={"Quality": 0.8})
    third.wait(delay=1, max_attempts=120)
    assert steps_of(third)["Process"]["CacheMissReason"] == (
        'Arguments.AppSpecification.ContainerArguments[1] changed from "0.9" to "0.8"')
    assert len(session.client.list_jobs(kind="processing")) == 2


def test_a_failed_execution_is_retried_from_the_step_that_failed(session, tmp_path: Path) -> None:
    marker = tmp_path / "ready"
    pipeline, _ = build(tmp_path, session, "retried", hyperparameters={"needs": str(marker)}, cache=False)
    pipeline.upsert()
    execution = pipeline.start()
    with pytest.raises(UnexpectedStatusException, match="no .*ready yet"):
        execution.wait(delay=1, max_attempts=120)
    failed = steps_of(execution)["Train"]
    assert failed["StepStatus"] == "Failed" and f"RuntimeError: no {marker} yet" in failed["FailureReason"]
    marker.write_text("ok")
    execution.retry()
    assert execution.wait(delay=1, max_attempts=120)["PipelineExecutionStatus"] == "Succeeded"
    found = steps_of(execution)
    assert found["Train"]["StepStatus"] == "Succeeded" and found["Train"]["AttemptCount"] == 2
    assert found["Process"]["AttemptCount"] == 1
    assert len(session.client.list_jobs(kind="processing")) == 1  # what succeeded was not run again
    assert len(session.client.list_jobs(kind="training")) == 2


def test_selective_execution_runs_the_chosen_steps_on_the_source_executions_outputs(session, tmp_path: Path) -> None:
    pipeline, _ = build(tmp_path, session, "selective", cache=False)
    pipeline.upsert()
    source = pipeline.start()
    source.wait(delay=1, max_attempts=120)
    rerun = pipeline.start(parameters={"Epochs": "9"},
                           selective_execution_config=SelectiveExecutionConfig(["Train"], source.arn))
    rerun.wait(delay=1, max_attempts=120)
    found = steps_of(rerun)
    assert found["Process"]["SelectiveExecutionResult"] == {"SourcePipelineExecutionArn": source.arn}
    assert found["Gate"]["SelectiveExecutionResult"] == {"SourcePipelineExecutionArn": source.arn}
    assert "SelectiveExecutionResult" not in found["Train"]
    assert len(session.client.list_jobs(kind="processing")) == 1
    training = session.describe_training_job(job_of(found["Train"], "TrainingJob"))
    assert training["HyperParameters"]["epochs"] == "9"
    source_process = session.describe_processing_job(job_of(steps_of(source)["Process"], "ProcessingJob"))
    assert training["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == \
        source_process["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    with pytest.raises(ValidationError, match="step 'Nope' is not in pipeline 'selective'"):
        pipeline.start(selective_execution_config=SelectiveExecutionConfig(["Nope"], source.arn))


def test_independent_steps_run_at_once_and_depends_on_orders_them(session, tmp_path: Path) -> None:
    ps = PipelineSession(client=session.client)
    write_script(tmp_path, "nap.py", "import time\ntime.sleep(2)\nprint('napped')\n")

    def nap(name: str, depends_on: list[Any] | None = None) -> ProcessingStep:
        processor = ScriptProcessor(command=["python3"], role="r", instance_type="local", sagemaker_session=ps)
        return ProcessingStep(name, step_args=processor.run(code=str(tmp_path / "nap.py")), depends_on=depends_on)

    a, b = nap("A"), nap("B")
    c = nap("C", depends_on=[a, "B"])
    pipeline = Pipeline("parallel", steps=[a, b, c], sagemaker_session=ps)
    pipeline.upsert()
    execution = pipeline.start()
    execution.wait(delay=1, max_attempts=120)
    jobs = {name: session.describe_processing_job(job_of(s, "ProcessingJob"))
            for name, s in steps_of(execution).items()}
    span = {name: (float(j["ProcessingStartTime"].timestamp()), float(j["ProcessingEndTime"].timestamp()))
            for name, j in jobs.items()}
    assert span["A"][0] < span["B"][1] and span["B"][0] < span["A"][1]  # A and B overlapped
    assert span["C"][0] >= max(span["A"][1], span["B"][1])


def test_a_server_restart_during_an_execution_resumes_it_on_the_same_job(session, tmp_path: Path,
                                                                          home: Path) -> None:
    pipeline, _ = build(tmp_path, session, "survivor", cache=False,
                        train_script="import time\ntime.sleep(4)\n" + textwrap.dedent(TRAIN))
    pipeline.upsert()
    execution = pipeline.start()
    wait_for(lambda: steps_of(execution).get("Train", {}).get("Metadata", {}).get("TrainingJob"), timeout=60)
    stop_local_server(home, tree=False)  # the server dies; the job's runner lives on
    assert execution.wait(delay=1, max_attempts=120)["PipelineExecutionStatus"] == "Succeeded"
    assert len(session.client.list_jobs(kind="training")) == 1
    assert steps_of(execution)["Train"]["AttemptCount"] == 1


def test_bad_definitions_and_inputs_are_refused_naming_the_step_and_field(session, tmp_path: Path) -> None:
    ps = PipelineSession(client=session.client)
    write_script(tmp_path, "noop.py", "import os\nos.makedirs('/opt/ml/processing/o', exist_ok=True)\n"
                                      "open('/opt/ml/processing/o/other.json', 'w').write('{}')\n")

    def proc(name: str, **kwargs: Any) -> ProcessingStep:
        processor = ScriptProcessor(command=["python3"], role="r", instance_type="local", sagemaker_session=ps)
        return ProcessingStep(name, step_args=processor.run(code=str(tmp_path / "noop.py"),
                                                            arguments=kwargs.pop("arguments", None)), **kwargs)

    a = proc("A", depends_on=["B"])
    b = proc("B", depends_on=["A"])
    with pytest.raises(ValidationError, match="cycle: A -> B -> A|cycle: B -> A -> B"):
        Pipeline("cyclic", steps=[a, b], sagemaker_session=ps).definition()
    orphan = ProcessingStep("Orphan", step_args=ScriptProcessor(
        command=["python3"], role="r", instance_type="local", sagemaker_session=ps).run(
        code=str(tmp_path / "noop.py"), arguments=[proc("Elsewhere").properties.ProcessingJobName]))
    with pytest.raises(ValidationError, match=r"step 'Orphan' refers in Arguments\.AppSpecification\."
                                              r"ContainerArguments\[0\] to step 'Elsewhere', which is not in the "
                                              r"pipeline"):
        Pipeline("orphan", steps=[orphan], sagemaker_session=ps).definition()
    from mlyard.errors import NotFoundError

    with pytest.raises(ValidationError, match="not JSON"):
        session.client.create_pipeline({"PipelineName": "raw", "PipelineDefinition": "{nope"})
    with pytest.raises(NotFoundError):
        session.client.describe_pipeline("absent")
    # a condition comparing a number with a string, and JsonGet of a file the step did not write
    threshold = ParameterString("Threshold", default_value="high")
    first = proc("First")
    missing = PropertyFile(name="missing", output_name="out", path="nothing.json")
    writer = ProcessingStep("Writer", step_args=ScriptProcessor(
        command=["python3"], role="r", instance_type="local", sagemaker_session=ps).run(
        code=str(tmp_path / "noop.py"), outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/o")]),
        property_files=[missing])
    compare = ConditionStep("Compare", conditions=[ConditionLessThanOrEqualTo(
        first.properties.ProcessingResources.ClusterConfig.InstanceCount, threshold)], if_steps=[], else_steps=[])
    pipeline = Pipeline("typed", parameters=[threshold], steps=[first, compare], sagemaker_session=ps)
    pipeline.upsert()
    with pytest.raises(ValidationError, match="parameter 'Threshold' must be a String, not 3"):
        pipeline.start(parameters={"Threshold": 3})
    execution = pipeline.start()
    with pytest.raises(UnexpectedStatusException, match=r"step 'Compare': Arguments\.Conditions\[0\]: "
                                                        r"LessThanOrEqualTo compares 1 \(a number\) with 'high'"):
        execution.wait(delay=1, max_attempts=120)
    read = ConditionStep("Read", conditions=[ConditionGreaterThan(
        JsonGet(step_name="Writer", property_file=missing, json_path="a.b"), 1)])
    pipeline = Pipeline("json-get", steps=[writer, read], sagemaker_session=ps)
    pipeline.upsert()
    execution = pipeline.start()
    with pytest.raises(UnexpectedStatusException, match=r"step 'Read': Arguments\.Conditions\[0\]\.LeftValue: "
                                                        r"JsonGet: property file 'missing' of step 'Writer' .* does "
                                                        r"not exist; the step did not write it"):
        execution.wait(delay=1, max_attempts=120)


def test_tuning_model_and_transform_steps_score_with_the_best_trials_model(session, tmp_path: Path) -> None:
    from mlyard.sklearn.model import SKLearnModel
    from mlyard.transformer import Transformer
    from mlyard.tuner import ContinuousParameter, HyperparameterTuner
    from mlyard.workflow.model_step import ModelStep
    from mlyard.workflow.steps import TransformStep, TuningStep

    ps = PipelineSession(client=session.client)
    bucket = session.default_bucket()
    write_script(tmp_path / "code", "fit.py", """
        import json, os
        import joblib
        from sklearn.dummy import DummyRegressor
        level = float(json.loads(os.environ["SM_HPS"])["level"])
        print(f"score: {-(level - 7) ** 2}")
        joblib.dump(DummyRegressor(strategy="constant", constant=level).fit([[0]], [0]),
                    os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    """)
    (tmp_path / "rows").mkdir()
    (tmp_path / "rows" / "x.csv").write_text("1\n2\n3\n")
    estimator = Estimator(entry_point=str(tmp_path / "code" / "fit.py"), role="r", instance_type="local",
                          output_path=f"s3://{bucket}/tuned", sagemaker_session=ps)
    tuner = HyperparameterTuner(estimator, "score", {"level": ContinuousParameter(0.0, 10.0)},
                                [{"Name": "score", "Regex": "score: ([0-9.e-]+)"}], max_jobs=3,
                                max_parallel_jobs=3, strategy="Random", random_seed=3)
    tune = TuningStep("Tune", step_args=tuner.fit())
    model = SKLearnModel(model_data=tune.get_top_model_s3_uri(top_k=0, s3_bucket=bucket, prefix="tuned"),
                         role="r", sagemaker_session=ps)
    create = ModelStep("Model", step_args=model.create())
    transformer = Transformer(model_name=create.properties.ModelName, instance_count=1, instance_type="local",
                              accept="text/csv", assemble_with="Line", sagemaker_session=ps)
    transform = TransformStep("Score", step_args=transformer.transform(
        data=str(tmp_path / "rows"), content_type="text/csv", split_type="Line"))
    pipeline = Pipeline("tuned", steps=[tune, create, transform], sagemaker_session=ps)
    pipeline.upsert()
    execution = pipeline.start()
    execution.wait(delay=1, max_attempts=300)
    found = steps_of(execution)
    assert [found[s]["StepStatus"] for s in ("Tune", "Model", "Score")] == ["Succeeded"] * 3
    tuning = execution.result("Tune")
    best = tuning["BestTrainingJob"]
    level = float(best["TunedHyperParameters"]["level"])
    described = session.describe_model(job_of(found["Model"], "Model"))
    assert described["PrimaryContainer"]["ModelDataUrl"].endswith(f"/tuned/{best['TrainingJobName']}/output/"
                                                                  "model.tar.gz")
    output = execution.result("Score")["TransformOutput"]["S3OutputPath"]
    from mlyard.s3 import S3Downloader

    scored = [float(v) for v in S3Downloader.read_file(f"{output}/x.csv.out", sagemaker_session=session).split()]
    assert scored == pytest.approx([level] * 3)


def test_a_lambda_step_runs_a_registered_function_and_its_outputs_feed_a_condition(session, tmp_path: Path) -> None:
    from mlyard.lambda_helper import Lambda
    from mlyard.workflow.conditions import ConditionEquals
    from mlyard.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep

    write_script(tmp_path, "judge.py", """
        def handler(event, context):
            margin = event["limit"] - event["mse"]
            return {"verdict": "pass" if margin > 0 else "fail", "margin": margin}
    """)
    ps = PipelineSession(client=session.client)
    Lambda(function_name="judge", script=str(tmp_path / "judge.py"), handler="judge.handler", session=ps).upsert()
    limit = ParameterFloat("Limit", default_value=10.0)
    judge = LambdaStep("Judge", lambda_func=Lambda(function_arn="arn:aws:lambda:us-east-1:1:function:judge"),
                       inputs={"mse": 4.0, "limit": limit},
                       outputs=[LambdaOutput("verdict"), LambdaOutput("margin", LambdaOutputTypeEnum.Float)])
    gate = ConditionStep("Gate", conditions=[ConditionEquals(judge.properties.Outputs["verdict"], "pass")],
                         else_steps=[FailStep("Rejected", error_message=Join(on=" ", values=[
                             "margin", judge.properties.Outputs["margin"]]))])
    pipeline = Pipeline("judged", parameters=[limit], steps=[judge, gate], sagemaker_session=ps)
    assert json.loads(pipeline.definition())["Steps"][1]["Arguments"]["Conditions"][0]["LeftValue"] == {
        "Get": "Steps.Judge.OutputParameters['verdict']"}
    pipeline.upsert()
    passed = pipeline.start()
    passed.wait(delay=1, max_attempts=120)
    assert steps_of(passed)["Gate"]["Metadata"]["Condition"] == {"Outcome": "true"}
    failed = pipeline.start(parameters={"Limit": 1.0})
    with pytest.raises(UnexpectedStatusException, match="margin -3.0"):
        failed.wait(delay=1, max_attempts=120)


def test_lineage_of_a_step_and_a_walk_up_and_down_from_an_artifact(session, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from mlyard.lineage.visualizer import LineageTableVisualizer

    pipeline, _ = build(tmp_path, session, "traced", cache=False)
    pipeline.upsert()
    execution = pipeline.start()
    execution.wait(delay=1, max_attempts=120)
    found = steps_of(execution)
    table = LineageTableVisualizer(session).show(pipeline_execution_step=found["Train"])
    assert list(table.columns) == ["Name/Source", "Direction", "Type", "Association Type", "Lineage Type"]
    process = session.describe_processing_job(job_of(found["Process"], "ProcessingJob"))
    train_data = process["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    model = execution.result("Train")["ModelArtifacts"]["S3ModelArtifacts"]
    rows = {(r["Name/Source"], r["Direction"], r["Type"]) for r in table.to_dict("records")}
    assert (train_data, "Input", "DataSet") in rows and (model, "Output", "Model") in rows
    walked = session.client.lineage(uri=model)
    up = [(r["Lineage Type"], r["Type"], r["Name/Source"]) for r in walked["Upstream"]]
    assert ("action", "TrainingJob", job_of(found["Train"], "TrainingJob")) in up
    assert ("action", "ProcessingJob", process["ProcessingJobName"]) in up  # what made its training data
    raw = process["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    assert ("artifact", "DataSet", raw) in up
    down = session.client.lineage(uri=raw)["Downstream"]
    assert ("artifact", "Model", model) in [(r["Lineage Type"], r["Type"], r["Name/Source"]) for r in down]
    out = subprocess.run([sys.executable, "-m", "mlyard", "lineage", raw], capture_output=True, text=True,
                         env=dict(os.environ), timeout=60)
    assert out.returncode == 0 and "TrainingJob" in out.stdout and "downstream" in out.stdout, out.stderr
    from mlyard.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no job, model, endpoint or model package"):
        session.client.lineage(uri="s3://nowhere/at-all")


def test_parameters_stand_for_instance_types_and_counts_in_every_request(session, tmp_path: Path) -> None:
    from mlyard.transformer import Transformer

    ps = PipelineSession(client=session.client)
    write_script(tmp_path, "noop.py", "print('ok')\n")
    kind = ParameterString("InstanceType", default_value="local")
    count = ParameterInteger("InstanceCount", default_value=1)
    fit = Estimator(entry_point=str(tmp_path / "noop.py"), role="r", instance_type=kind, instance_count=count,
                    sagemaker_session=ps).fit("s3://bucket/data")
    assert fit.request["ResourceConfig"] == {"InstanceType": {"Get": "Parameters.InstanceType"},
                                             "InstanceCount": {"Get": "Parameters.InstanceCount"}}
    run = ScriptProcessor(command=["python3"], role="r", instance_type=kind, instance_count=count,
                          sagemaker_session=ps).run(code=str(tmp_path / "noop.py"))
    assert run.request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == {"Get": "Parameters.InstanceCount"}
    transform = Transformer(model_name="m", instance_count=count, instance_type=kind,
                            sagemaker_session=ps).transform("s3://bucket/rows")
    assert transform.request["TransformResources"]["InstanceType"] == {"Get": "Parameters.InstanceType"}
    with pytest.raises(TypeError, match="pipeline variable"):
        f"{kind}"  # noqa: B018
    assert session.client.list_jobs() == []  # nothing was started


def test_a_stopped_execution_stops_its_running_job_and_says_so(session, tmp_path: Path) -> None:
    pipeline, _ = build(tmp_path, session, "stopped", cache=False,
                        train_script="import time\ntime.sleep(60)\n" + textwrap.dedent(TRAIN))
    pipeline.upsert()
    execution = pipeline.start()
    job = wait_for(lambda: steps_of(execution).get("Train", {}).get("Metadata", {}).get("TrainingJob"), timeout=60)
    execution.stop()
    assert execution.describe()["PipelineExecutionStatus"] == "Stopped"
    assert steps_of(execution)["Train"]["StepStatus"] == "Stopped"
    name = job["Arn"].rsplit("/", 1)[-1]
    wait_for(lambda: session.describe_training_job(name)["TrainingJobStatus"] == "Stopped", timeout=60)
    from mlyard.errors import ConflictError

    with pytest.raises(ConflictError, match="nothing to stop"):
        execution.stop()


def test_bad_definitions_through_the_api_are_4xx_not_5xx(session) -> None:
    client = session.client
    for definition, message in (
            ({"Steps": ["x"]}, "Steps\\[0\\] is not a step"),
            ({"Steps": [{"Name": "A", "Type": "Nope", "Arguments": {}}]}, "Type 'Nope' is not one of"),
            ({"Steps": [{"Name": "A", "Type": "Condition", "Arguments": {"IfSteps": "x"}}]}, "IfSteps"),
            ({"Parameters": [{"Name": "P", "Type": "Integer", "DefaultValue": "x"}],
              "Steps": [{"Name": "A", "Type": "Fail", "Arguments": {}}]}, "must be a Integer"),
            ({"Steps": [{"Name": "A", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Q"}}}]},
             "parameter 'Q', which the pipeline does not declare"),
            ({"Steps": [{"Name": "A", "Type": "Fail", "DependsOn": "B"}]}, "DependsOn must be a list"),
            ({"Parameters": 5, "Steps": [{"Name": "A", "Type": "Fail"}]}, "Parameters must be a list"),
            ({"Parameters": [{"Name": "P", "Type": ["x"]}], "Steps": [{"Name": "A", "Type": "Fail"}]}, "Type"),
            ({"Parameters": [{"Name": "P", "EnumValues": 5, "DefaultValue": "a"}],
              "Steps": [{"Name": "A", "Type": "Fail"}]}, "EnumValues must be a list"),
            ({"Steps": [{"Name": "A", "Type": "Fail", "RetryPolicies": ["x"]}]}, "ExceptionType"),
            ({"Steps": [{"Name": "A", "Type": "Fail", "RetryPolicies": [
                {"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": "x"}]}]}, "MaxAttempts must be a number"),
            ({"Steps": [{"Name": "A", "Type": "Fail", "CacheConfig": "x"}]}, "CacheConfig must be"),
            ({"Steps": [{"Name": "A", "Type": "Fail", "CacheConfig": {"Enabled": True, "ExpireAfter": "soon"}}]},
             "not an ISO 8601 duration"),
            ({"Steps": [{"Name": "A", "Type": "Condition", "Arguments": {"Conditions": 5}}]},
             "Conditions must be a list"),
            ({"ParallelismConfiguration": {"MaxParallelExecutionSteps": -1},
              "Steps": [{"Name": "A", "Type": "Fail"}]}, "at least 1"),
            ({"Steps": []}, "no Steps")):
        with pytest.raises(ValidationError, match=message):
            client.create_pipeline({"PipelineName": "bad", "PipelineDefinition": json.dumps(definition)})
    client.create_pipeline({"PipelineName": "fine", "PipelineDefinition": json.dumps(
        {"Steps": [{"Name": "A", "Type": "Fail", "Arguments": {"ErrorMessage": "stop"}}]})})
    with pytest.raises(ValidationError, match="at least 1"):
        client.start_pipeline_execution("fine", {"ParallelismConfiguration": {"MaxParallelExecutionSteps": 0}})
    with pytest.raises(ValidationError, match="SelectedSteps"):
        client.start_pipeline_execution("fine", {"SelectiveExecutionConfig": {"SelectedSteps": 5}})
    session.create_model_package_group("checked")
    with pytest.raises(ValidationError, match="ModelMetrics.ModelQuality"):
        client.create_model_package({"ModelPackageGroupName": "checked", "ModelMetrics": {"ModelQuality": "x"},
                                     "InferenceSpecification": {"Containers": [{"Image": "i"}]}})
    with pytest.raises(ValidationError, match="by name"):
        client.set_approval_rules("checked", [{"Pipeline": {"a": 1}}])


def test_a_cached_run_past_its_expiry_is_not_reused(session, tmp_path: Path) -> None:
    import time

    ps = PipelineSession(client=session.client)
    write_script(tmp_path, "noop.py", "print('ok')\n")
    processor = ScriptProcessor(command=["python3"], role="r", instance_type="local", sagemaker_session=ps)
    step = ProcessingStep("Once", step_args=processor.run(code=str(tmp_path / "noop.py")),
                          cache_config=CacheConfig(enable_caching=True, expire_after="PT2S"))
    pipeline = Pipeline("expiring", steps=[step], sagemaker_session=ps)
    pipeline.upsert()
    first = pipeline.start()
    first.wait(delay=1, max_attempts=60)
    started = time.monotonic()
    second = pipeline.start()
    second.wait(delay=1, max_attempts=60)
    if time.monotonic() - started < 2:  # within the expiry: reused
        assert steps_of(second)["Once"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first.arn}
    time.sleep(2.5)
    third = pipeline.start()
    third.wait(delay=1, max_attempts=60)
    assert "CacheHitResult" not in steps_of(third)["Once"]
    assert steps_of(third)["Once"]["CacheMissReason"] == "its earlier run has expired, failed or was deleted"

