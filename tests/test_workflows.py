"""Workflows on the control plane, through its HTTP API: definitions checked at create, executions
run durably (history in the catalog), SageMaker tasks on real jobs, stop, redrive, and a server
killed during a ``.sync`` training task (the same job is followed after the restart)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import stop_local_server, wait_for, write_script

from mlyard.errors import ConflictError, NotFoundError, ValidationError
from mlyard.estimator import Estimator
from mlyard.jobs import _upload_local_references

GATE = {"StartAt": "Init", "States": {
    "Init": {"Type": "Pass", "Parameters": {"mse.$": "$.mse", "run.$": "$$.Execution.Name"}, "ResultPath": "$.gate",
             "Next": "Gate"},
    "Gate": {"Type": "Choice", "Choices": [{"Variable": "$.gate.mse", "NumericLessThan": 3000, "Next": "Ok"}],
             "Default": "TooHigh"},
    "Ok": {"Type": "Succeed"},
    "TooHigh": {"Type": "Fail", "Error": "QualityGate", "CausePath": "States.Format('mse {} >= 3000', $.gate.mse)"}}}


def run(client: Any, workflow: str, data: Any, name: str | None = None) -> dict[str, Any]:
    started = client.start_execution(workflow, {"input": data, "name": name})
    execution = started["executionArn"].rsplit(":", 1)[1]
    return wait_for(lambda: (d := client.wait_execution(workflow, execution, 5))["status"] != "RUNNING" and d,
                    timeout=120)


def job_status(client: Any, name: str) -> str | None:
    try:
        return str(client.describe_job(name)["TrainingJobStatus"])
    except NotFoundError:  # not created yet
        return None


def training_request(tmp_path: Path, client: Any, script: str, name: str) -> dict[str, Any]:
    write_script(tmp_path, "train.py", script)
    est = Estimator(entry_point=str(tmp_path / "train.py"), role="r", instance_type="local")
    source = est._source()  # its packed file lives as long as this object: until uploaded
    request = est._request(name, None, source)
    _upload_local_references(client, "training", request)
    del source
    return request


def test_a_workflow_runs_and_its_history_says_what_happened(session) -> None:
    client = session.client
    created = client.create_workflow({"name": "gate", "definition": GATE, "roleArn": "role"})
    assert created["stateMachineArn"].endswith("stateMachine/gate") and json.loads(created["definition"]) == GATE
    passed = run(client, "gate", {"mse": 2500}, name="first")
    assert passed["status"] == "SUCCEEDED"
    assert json.loads(passed["output"]) == {"mse": 2500, "gate": {"mse": 2500, "run": "first"}}
    failed = run(client, "gate", {"mse": 4000})
    assert failed["status"] == "FAILED" and failed["error"] == "QualityGate" and failed["cause"] == "mse 4000 >= 3000"
    events = client.execution_history("gate", "first")["events"]
    assert [e["type"] for e in events] == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "ChoiceStateEntered", "ChoiceStateExited",
        "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"]
    assert [e["id"] for e in events] == list(range(1, 9))
    assert events[1]["stateEnteredEventDetails"]["name"] == "Init"
    latest = client.execution_history("gate", "first", reverse=True, limit=1)["events"]
    assert [e["type"] for e in latest] == ["ExecutionSucceeded"]
    assert [e["status"] for e in client.list_executions("gate")] == ["FAILED", "SUCCEEDED"]
    with pytest.raises(ConflictError, match="unique per workflow"):
        client.start_execution("gate", {"name": "first"})
    with pytest.raises(ConflictError, match="has ended"):
        client.stop_execution("gate", "first")


def test_a_bad_definition_is_refused_with_every_problem_by_state_name(session) -> None:
    client = session.client
    bad = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Missing"},
        "B": {"Type": "Task", "Resource": "arn:aws:states:::s3:putObject", "End": True}}}
    with pytest.raises(ValidationError) as err:
        client.create_workflow({"name": "bad", "definition": bad})
    message = err.value.message
    assert "State 'A': Next 'Missing' names no state" in message and "State 'B': is not reachable" in message
    unsupported = {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "arn:aws:states:::s3:putObject",
                                                    "End": True}}}
    with pytest.raises(ValidationError, match="State 'B': Resource 'arn:aws:states:::s3:putObject' does not run"):
        client.create_workflow({"name": "bad", "definition": unsupported})
    with pytest.raises(ValidationError, match="not JSON"):
        client.create_workflow({"name": "bad", "definition": "{nope"})
    with pytest.raises(ValidationError, match="1 to 80 letters"):
        client.create_workflow({"name": "bad name!", "definition": GATE})
    with pytest.raises(NotFoundError):
        client.start_execution("nothing-here", {})
    client.create_workflow({"name": "gate", "definition": GATE})
    with pytest.raises(ValidationError, match="input is not JSON"):
        client.start_execution("gate", {"input": "{x"})


def test_a_sync_training_task_gives_the_jobs_description_and_a_failed_job_is_caught(session, tmp_path: Path) -> None:
    client = session.client
    good = training_request(tmp_path, client, """
        import os
        open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("ok")
        print("trained", flush=True)
    """, "wf-train-ok")
    (tmp_path / "bad").mkdir()
    bad = training_request(tmp_path / "bad", client, "raise SystemExit('the data is broken')\n", "wf-train-bad")
    definition = {"StartAt": "Train", "States": {
        "Train": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                  "Parameters": good, "ResultSelector": {"model.$": "$.ModelArtifacts.S3ModelArtifacts",
                                                         "status.$": "$.TrainingJobStatus"},
                  "ResultPath": "$.train", "Next": "Broken"},
        "Broken": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                   "Parameters": bad, "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.failure",
                                                 "Next": "Done"}], "End": True},
        "Done": {"Type": "Pass", "End": True}}}
    client.create_workflow({"name": "train", "definition": definition})
    result = run(client, "train", {})
    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["train"]["status"] == "Completed" and output["train"]["model"].endswith("model.tar.gz")
    assert output["failure"]["Error"] == "States.TaskFailed"
    assert "the data is broken" in json.loads(output["failure"]["Cause"])["FailureReason"]
    assert client.describe_job("wf-train-ok")["TrainingJobStatus"] == "Completed"
    types = [e["type"] for e in client.execution_history("train", result["name"])["events"]]
    assert types.count("TaskSubmitted") == 2 and types.count("TaskFailed") == 1
    again = run(client, "train", {})  # the same job names: refused, never the old job's result
    assert again["status"] == "FAILED" and again["error"] == "SageMaker.AmazonSageMakerException"
    assert "'wf-train-ok' exists already" in again["cause"]


def test_stop_ends_the_execution_and_its_job_and_redrive_runs_what_failed(session, tmp_path: Path) -> None:
    client = session.client
    slow = training_request(tmp_path, client, "import time\ntime.sleep(120)\n", "wf-train-slow")
    definition = {"StartAt": "Train", "States": {"Train": {
        "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync", "Parameters": slow,
        "End": True}}}
    client.create_workflow({"name": "slow", "definition": definition})
    client.start_execution("slow", {"name": "one"})
    wait_for(lambda: job_status(client, "wf-train-slow") == "InProgress", timeout=60)
    client.stop_execution("slow", "one")
    assert client.describe_execution("slow", "one")["status"] == "ABORTED"
    assert wait_for(lambda: job_status(client, "wf-train-slow") == "Stopped", timeout=60)

    # redrive: a failed state runs again; the ones that succeeded are not run again
    flaky = {"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Result": "kept", "ResultPath": "$.first", "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.ready", "BooleanEquals": True, "Next": "Ok"}],
                  "Default": "NotYet"},
        "NotYet": {"Type": "Fail", "Error": "NotReady"},
        "Ok": {"Type": "Succeed"}}}
    client.create_workflow({"name": "flaky", "definition": flaky})
    failed = run(client, "flaky", {"ready": False}, name="r")
    assert failed["error"] == "NotReady"
    assert run(client, "flaky", {"ready": True}, name="fine")["status"] == "SUCCEEDED"
    with pytest.raises(ConflictError, match="only a failed"):
        client.redrive_execution("flaky", "fine")
    client.redrive_execution("flaky", "r")
    again = wait_for(lambda: (d := client.describe_execution("flaky", "r"))["status"] != "RUNNING" and d)
    assert again["status"] == "FAILED" and again["redriveCount"] == 1  # the same input: it fails the same way
    events = [e["type"] for e in client.execution_history("flaky", "r")["events"]]
    assert events.count("PassStateEntered") == 1 and "ExecutionRedriven" in events
    assert events.count("FailStateEntered") == 2


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_server_killed_during_a_sync_task_follows_the_same_job_after_restart(session, tmp_path: Path, home: Path,
                                                                                how: str) -> None:
    client = session.client
    request = training_request(tmp_path, client, """
        import os, time
        time.sleep(4)
        open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("ok")
    """, "wf-survivor")
    definition = {"StartAt": "Before", "States": {
        "Before": {"Type": "Pass", "Result": 1, "ResultPath": "$.before", "Next": "Train"},
        "Train": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                  "Parameters": request, "ResultSelector": {"status.$": "$.TrainingJobStatus"},
                  "ResultPath": "$.train", "End": True}}}
    client.create_workflow({"name": "survive", "definition": definition})
    client.start_execution("survive", {"name": "e"})
    wait_for(lambda: job_status(client, "wf-survivor") == "InProgress", timeout=60)
    old_url = client.url
    if how == "SIGKILL":
        stop_local_server(home, tree=False)  # the server alone dies at once: the job's runner lives on
    else:  # a server that stops in order lets go of the execution: nothing says it ended, the job goes on
        import os
        import signal

        import psutil

        server = psutil.Process(json.loads((home / "server.json").read_text())["pid"])
        os.kill(server.pid, signal.SIGTERM)
        server.wait(30)
    done = wait_for(lambda: (d := client.wait_execution("survive", "e", 5))["status"] != "RUNNING" and d, timeout=120)
    assert client.url != old_url
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"])["train"] == {"status": "Completed"}
    assert [j["JobName"] for j in client.list_jobs(kind="training")] == ["wf-survivor"]
    events = [e["type"] for e in client.execution_history("survive", "e")["events"]]
    assert events.count("TaskSubmitted") == 1 and events.count("TaskScheduled") == 1
    assert events.count("PassStateEntered") == 1 and events[-1] == "ExecutionSucceeded"


def test_the_cli_starts_lists_shows_and_renders_workflows(session, tmp_path: Path, home: Path) -> None:
    import os
    import subprocess
    import sys

    session.client.create_workflow({"name": "gate", "definition": GATE})
    env = {**os.environ, "MLYARD_HOME": str(home), "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mlyard", "workflows", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    assert "gate" in cli("list").stdout
    assert json.loads(cli("describe", "gate").stdout)["definition"] == GATE
    started = cli("start", "gate", "--input", '{"mse": 9000}', "--name", "cli-run", "--wait")
    assert started.returncode == 0 and "FAILED" in started.stdout and "QualityGate" in started.stdout
    assert "cli-run" in cli("executions", "gate").stdout
    history = cli("history", "gate", "cli-run").stdout
    assert "FailStateEntered" in history and "ExecutionFailed" in history
    rendered = cli("render", "gate", str(tmp_path / "g.html"), "--execution", "cli-run")
    assert rendered.returncode == 0 and "TooHigh (Fail): FAILED" in (tmp_path / "g.html").read_text()
    bad = cli("start", "gate", "--input", "{nope")
    assert bad.returncode == 1 and "--input is not JSON" in bad.stderr
    assert cli("redrive", "gate", "cli-run").returncode == 0


def test_an_input_that_does_not_match_the_workflows_input_schema_is_refused(session) -> None:
    client = session.client
    with pytest.raises(ValidationError, match="'when': 'date' is not one of"):
        client.create_workflow({"name": "typed", "definition": GATE, "inputSchema": {"when": "date"}})
    client.create_workflow({"name": "typed", "definition": GATE,
                            "inputSchema": {"mse": "float", "run": {"id": "str"}}})
    with pytest.raises(ValidationError) as err:
        client.start_execution("typed", {"input": {"mse": "high", "run": {}}})
    assert "missing run.id" in err.value.message and "mse (a float, not \"high\")" in err.value.message
    assert run(client, "typed", {"mse": 12, "run": {"id": "r1"}})["status"] == "SUCCEEDED"


def test_processing_tuning_model_and_endpoint_update_tasks_run_on_real_jobs(session, tmp_path: Path) -> None:
    import joblib
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    from mlyard.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
    from mlyard.sklearn.model import SKLearnModel
    from mlyard.stepfunctions.steps import Chain
    from mlyard.stepfunctions.steps.sagemaker import (
        EndpointConfigStep,
        EndpointStep,
        ModelStep,
        ProcessingStep,
        TuningStep,
    )
    from mlyard.stepfunctions.workflow import Workflow
    from mlyard.tuner import ContinuousParameter, HyperparameterTuner

    x, y = load_iris(return_X_y=True)
    for name, model in (("a", LogisticRegression(max_iter=1000).fit(x, y)),
                        ("b", DummyClassifier(strategy="constant", constant=2).fit(x, y))):
        (tmp_path / name).mkdir()
        joblib.dump(model, tmp_path / name / "model.joblib")
    predictor = SKLearnModel(model_data=f"file://{tmp_path / 'a'}", role="r", sagemaker_session=session).deploy(
        1, "local", endpoint_name="served")
    write_script(tmp_path / "code", "count.py", """
        import os
        rows = open("/opt/ml/processing/input/data/rows.csv").read().splitlines()
        os.makedirs("/opt/ml/processing/out", exist_ok=True)
        open("/opt/ml/processing/out/count.txt", "w").write(str(len(rows)))
        print("counted", len(rows))
        """)
    (tmp_path / "data").mkdir()
    np.savetxt(tmp_path / "data" / "rows.csv", x[:7], delimiter=",")
    processor = ScriptProcessor(command=["python3"], role="r", instance_type="local", instance_count=1,
                                sagemaker_session=session)
    process = ProcessingStep(
        "Process", processor, job_name="wf-process-1",
        inputs=[ProcessingInput(source=str(tmp_path / "data"), destination="/opt/ml/processing/input/data"),
                ProcessingInput(source=str(tmp_path / "code" / "count.py"),
                                destination="/opt/ml/processing/input/code")],
        outputs=[ProcessingOutput(source="/opt/ml/processing/out", output_name="out")],
        container_entrypoint=["python3", "/opt/ml/processing/input/code/count.py"],
        result_selector={"status.$": "$.ProcessingJobStatus",
                         "out.$": "$.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri"}, result_path="$.processing")
    write_script(tmp_path / "tune", "train.py", """
        import json, os
        lr = float(json.loads(os.environ["SM_HPS"])["lr"])
        print(f"objective: {1 - (lr - 0.3) ** 2}")
        """)
    tuner = HyperparameterTuner(Estimator(entry_point=str(tmp_path / "tune" / "train.py"), role="r",
                                          instance_type="local", sagemaker_session=session),
                                "objective", {"lr": ContinuousParameter(0.0, 1.0)},
                                [{"Name": "objective", "Regex": "objective: ([0-9.e-]+)"}], max_jobs=2,
                                max_parallel_jobs=2)
    tune = TuningStep("Tune", tuner, job_name="wf-tune-1",
                      result_selector={"status.$": "$.HyperParameterTuningJobStatus",
                                       "best.$": "$.BestTrainingJob.TrainingJobName"}, result_path="$.tuning")
    model = ModelStep("Model", SKLearnModel(model_data=f"file://{tmp_path / 'b'}", role="r", sagemaker_session=session),
                      model_name="wf-model-b", result_path="$.model")
    config = EndpointConfigStep("Config", endpoint_config_name="wf-config-b", model_name="wf-model-b",
                                initial_instance_count=1, instance_type="local", result_path="$.config")
    update = EndpointStep("Update", endpoint_name="served", endpoint_config_name="wf-config-b", update=True,
                          result_path="$.update")
    flow = Workflow("jobs", Chain([process, tune, model, config, update]), role="r", client=session)
    flow.create()
    try:
        execution = flow.execute(inputs={})
        output = execution.get_output(wait=True)
        assert execution.describe()["status"] == "SUCCEEDED", execution.describe()
        assert output["processing"]["status"] == "Completed", output
        from mlyard.s3 import S3Downloader

        assert S3Downloader.read_file(output["processing"]["out"] + "/count.txt", sagemaker_session=session) == "7"
        assert output["tuning"]["status"] == "Completed" and output["tuning"]["best"].startswith("wf-tune-1")
        assert len(session.client.tuning_training_jobs("wf-tune-1")) == 2
        assert output["model"]["ModelName"] == "wf-model-b" and output["config"]["EndpointConfigName"] == "wf-config-b"
        assert output["update"]["EndpointName"] == "served"
        wait_for(lambda: (d := session.client.describe_endpoint("served"))["EndpointStatus"] == "InService"
                 and d["EndpointConfigName"] == "wf-config-b", timeout=60)
        assert np.ravel(predictor.predict(x[:3])).tolist() == [2, 2, 2]  # model b answers now
    finally:
        predictor.delete_endpoint()
