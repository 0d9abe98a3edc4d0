"""Functions in workflows (``lambda:invoke``): registered Python functions run in processing jobs of
their own, their errors caught by name; module paths; a task's HeartbeatSeconds."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import wait_for, write_script
from test_workflows import run

from mlyard.errors import NotFoundError, ValidationError
from mlyard.stepfunctions import functions
from mlyard.stepfunctions.steps import Catch, Chain, LambdaStep, Pass, Retry
from mlyard.stepfunctions.workflow import Workflow

FUNCTIONS = """
import os


def score(event, context):
    print("scoring", event["values"], "as", context.function_name, flush=True)
    return {"mean": sum(event["values"]) / len(event["values"]), "job": context.aws_request_id,
            "greeting": os.environ.get("GREETING")}


def picky(event):
    raise ValueError(f"no good: {event}")


def unwritable(event):
    return {1, 2}


def silent(event):
    import time

    time.sleep(60)
"""


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fns(tmp_path: Path) -> ModuleType:
    return load(write_script(tmp_path / "code", "wf_functions.py", FUNCTIONS))


def test_a_registered_function_runs_in_a_job_and_gives_its_result(session, fns: ModuleType) -> None:
    functions.register(fns.score, environment={"GREETING": "hello"}, session=session)
    described = functions.describe("score", session=session)
    assert described["Handler"] == "wf_functions:score" and described["FunctionArn"].endswith(":function:score")
    assert [f["FunctionName"] for f in functions.list_functions(session=session)] == ["score"]

    step = LambdaStep("Score", parameters={"FunctionName": "score", "Payload": {"values.$": "$.values"}},
                      result_selector={"mean.$": "$.Payload.mean", "job.$": "$.Payload.job",
                                       "greeting.$": "$.Payload.greeting", "status.$": "$.StatusCode"})
    wf = Workflow("functions", Chain([step]), role="r", client=session)
    wf.create()
    done = run(session.client, "functions", {"values": [1, 2, 6]}, name="one")
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    assert out["mean"] == 3 and out["greeting"] == "hello" and out["status"] == 200
    job = session.client.describe_job(out["job"])  # a processing job of its own, its logs the function's
    assert job["ProcessingJobStatus"] == "Completed"
    assert "scoring [1, 2, 6] as score" in b"".join(session.client.job_logs(out["job"])).decode()
    scheduled = next(e for e in session.client.execution_history("functions", "one")["events"]
                     if e["type"] == "TaskScheduled")["taskScheduledEventDetails"]
    assert scheduled["resourceType"] == "lambda" and scheduled["resource"] == "invoke"
    assert json.loads(scheduled["parameters"]) == {"FunctionName": "score", "Payload": {"values": [1, 2, 6]}}

    # Registering again replaces it (now sandboxed); a function's ARN as the Resource gives the payload alone.
    functions.register(fns.score, name="score", environment={"GREETING": "again"}, sandbox=True,
                       session=session)
    session.client.create_workflow({"name": "by-arn", "definition": {"StartAt": "F", "States": {"F": {
        "Type": "Task", "Resource": "arn:aws:lambda:local:000000000000:function:score", "End": True}}}})
    assert json.loads(run(session.client, "by-arn", {"values": [4]})["output"])["greeting"] == "again"


def test_a_functions_error_is_retried_and_caught_by_its_name(session, fns: ModuleType) -> None:
    functions.register(fns.picky, session=session)
    functions.register(fns.unwritable, session=session)
    step = LambdaStep("Picky", parameters={"FunctionName": "picky", "Payload.$": "$"},
                      retry=Retry(error_equals=["ValueError"], interval_seconds=1, max_attempts=1),
                      catch=Catch(next_step=Pass("Caught"), error_equals=["ValueError"], result_path="$.error"))
    Workflow("picky", Chain([step]), role="r", client=session).create()
    done = run(session.client, "picky", {"x": 1}, name="p")
    assert done["status"] == "SUCCEEDED", done
    error = json.loads(done["output"])["error"]
    assert error["Error"] == "ValueError"
    cause = json.loads(error["Cause"])
    assert cause["errorType"] == "ValueError" and cause["errorMessage"] == "no good: {'x': 1}"
    assert any("wf_functions.py" in frame for frame in cause["stackTrace"])
    failed = [e for e in session.client.execution_history("picky", "p")["events"] if e["type"] == "TaskFailed"]
    assert len(failed) == 2  # the first try and its retry

    session.client.create_workflow({"name": "bad-result", "definition": {"StartAt": "F", "States": {"F": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "unwritable"},
        "End": True}}}})
    bad = run(session.client, "bad-result", {})
    assert bad["status"] == "FAILED" and bad["error"] == "Runtime.MarshalError" and "JSON" in bad["cause"]


def test_a_module_path_runs_without_registering_and_unknown_functions_fail_clearly(session, home: Path) -> None:
    client = session.client
    client.create_workflow({"name": "mean", "definition": {"StartAt": "F", "States": {"F": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "statistics:mean", "Payload.$": "$.values"}, "OutputPath": "$.Payload",
        "End": True}}}})
    assert json.loads(run(client, "mean", {"values": [1, 2, 3, 6]})["output"]) == 3
    client.create_workflow({"name": "missing", "definition": {"StartAt": "F", "States": {"F": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "nope"},
        "End": True}}}})
    missing = run(client, "missing", {})
    assert missing["status"] == "FAILED" and missing["error"] == "Lambda.ResourceNotFoundException"
    assert "register it" in missing["cause"]
    client.create_workflow({"name": "no-module", "definition": {"StartAt": "F", "States": {"F": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "no_such_module.handler"}, "End": True}}}})
    gone = run(client, "no-module", {})
    assert gone["error"] == "Runtime.ImportModuleError" and "no_such_module" in gone["cause"]

    with pytest.raises(ValidationError, match="module:function"):
        client.put_function({"FunctionName": "f", "Handler": "not a handler"})
    with pytest.raises(ValidationError, match="FunctionName"):
        client.put_function({"FunctionName": "has space", "Handler": "m:f"})
    with pytest.raises(NotFoundError, match="no function named 'ghost'"):
        client.describe_function("ghost")
    client.put_function({"FunctionName": "mean", "Handler": "statistics:mean", "Timeout": 60})
    env = {**os.environ, "MLYARD_HOME": str(home), "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mlyard", "functions", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    listed = cli("list")
    assert listed.returncode == 0 and "mean" in listed.stdout and "statistics:mean" in listed.stdout
    assert json.loads(cli("describe", "mean").stdout)["Timeout"] == 60
    assert cli("delete", "mean").returncode == 0 and client.list_functions() == []
    assert cli("describe", "mean").returncode != 0
    with pytest.raises(ValidationError, match="top level"):
        functions.register(lambda event: event, session=session)
    with pytest.raises(ValueError, match="wait_for_callback"):
        LambdaStep("L", wait_for_callback=True)


def test_heartbeat_seconds_fails_a_task_whose_job_goes_silent_and_stops_the_job(session, fns: ModuleType) -> None:
    functions.register(fns.silent, session=session)
    client = session.client
    client.create_workflow({"name": "silent", "definition": {"StartAt": "F", "States": {"F": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "silent"},
        "HeartbeatSeconds": 3, "TimeoutSeconds": 120, "End": True}}}})
    done = run(client, "silent", {}, name="s")
    assert done["status"] == "FAILED" and done["error"] == "States.HeartbeatTimeout", done
    events = client.execution_history("silent", "s")["events"]
    scheduled = next(e for e in events if e["type"] == "TaskScheduled")["taskScheduledEventDetails"]
    assert scheduled["heartbeatInSeconds"] == 3 and scheduled["timeoutInSeconds"] == 120
    timed_out = next(e for e in events if e["type"] == "TaskTimedOut")["taskTimedOutEventDetails"]
    job = timed_out["cause"].split("'")[1]
    assert wait_for(lambda: client.describe_job(job)["ProcessingJobStatus"] == "Stopped", timeout=60)


def test_a_functions_error_record_fits_a_failure_reason_and_keeps_its_name(monkeypatch) -> None:
    from mlyard.runtime.function import FAILURE_LIMIT, failure
    from mlyard.workflow.errors import HEARTBEAT_TIMEOUT, TIMEOUT, matches

    class QualityError(Exception):
        pass

    try:
        raise QualityError("é" * 5000)
    except QualityError as exc:
        text = failure(exc)
    record = json.loads(text)
    assert len(text.encode()) <= FAILURE_LIMIT and record["errorType"] == "QualityError"
    assert record["errorMessage"].startswith("é") and record["errorMessage"].endswith("...")

    # A heartbeat timeout is a timeout to Retry and Catch, not a task failure.
    assert matches([TIMEOUT], HEARTBEAT_TIMEOUT) and matches([HEARTBEAT_TIMEOUT], HEARTBEAT_TIMEOUT)
    assert not matches(["States.TaskFailed"], HEARTBEAT_TIMEOUT) and matches(["States.ALL"], HEARTBEAT_TIMEOUT)

    # Inside a function's own job, importing its module does not register it again.
    class Unreachable:
        @property
        def client(self) -> None:
            raise AssertionError("no server is called from a function's job")

    monkeypatch.setenv("MLYARD_FUNCTION_JOB", "1")

    def handler(event: object) -> object:
        return event

    assert functions.register(handler, session=Unreachable()) is handler
    assert functions.register(name="x", session=Unreachable())(handler) is handler
