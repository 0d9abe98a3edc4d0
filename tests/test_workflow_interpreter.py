"""The interpreter that runs an execution: every state type, Retry/Catch, Parallel and Map with
real concurrency, stop and timeout, and durable replay (a crashed execution resumes without
running a finished state twice; a submitted task is re-attached; redrive runs what failed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from mlyard.workflow import StatesError, check
from mlyard.workflow.interpreter import Interpreter, Outcome, TaskCall


class Crash(BaseException):
    """The server dying in the middle of an execution."""


class MemoryHistory:
    def __init__(self, events: list[dict[str, Any]] | None = None) -> None:
        self.events = list(events or [])
        self.lock = threading.Lock()

    def append(self, events: list[dict[str, Any]]) -> list[int]:
        ids = []
        with self.lock:
            for e in events:
                self.events.append(dict(e, id=len(self.events) + 1))
                ids.append(len(self.events))
        return ids

    def types(self, thread: str | None = "") -> list[str]:
        return [e["type"] for e in self.events if thread is None or e["thread"] == thread]


class Functions:
    """Task resources that are Python functions of the call."""

    def __init__(self, **functions: Callable[[TaskCall], Any]) -> None:
        self.functions = functions
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def run(self, call: TaskCall) -> Any:
        with self.lock:
            self.calls[call.resource] = self.calls.get(call.resource, 0) + 1
        return self.functions[call.resource](call)


def run(definition: dict[str, Any], data: Any, tasks: Any = None, history: MemoryHistory | None = None,
        recorded: list[dict[str, Any]] | None = None) -> tuple[Outcome, MemoryHistory]:
    check(definition)
    history = history or MemoryHistory(recorded)
    interpreter = Interpreter(definition, history, tasks or Functions(), recorded=recorded,
                              execution={"Id": "exec-1", "Name": "e1", "Input": data, "StartTime": "now",
                                         "StateMachine": {"Id": "sm", "Name": "sm"}})
    return interpreter.run(), history


def test_pass_choice_and_succeed_carry_the_data_through() -> None:
    definition = {"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Parameters": {"mse.$": "$.metrics.mse", "name.$": "$$.Execution.Name"},
                 "ResultPath": "$.gate", "Next": "Gate"},
        "Gate": {"Type": "Choice", "Choices": [{"Variable": "$.gate.mse", "NumericLessThan": 10, "Next": "Good"}],
                 "Default": "Bad"},
        "Good": {"Type": "Pass", "Result": "deployed", "ResultPath": "$.decision", "OutputPath": "$.decision",
                 "Next": "Done"},
        "Bad": {"Type": "Fail", "Error": "QualityGate", "CausePath": "States.Format('mse {} too high', $.gate.mse)"},
        "Done": {"Type": "Succeed"}}}
    outcome, history = run(definition, {"metrics": {"mse": 4}})
    assert outcome == Outcome("SUCCEEDED", output="deployed")
    assert history.types() == ["PassStateEntered", "PassStateExited", "ChoiceStateEntered", "ChoiceStateExited",
                               "PassStateEntered", "PassStateExited", "SucceedStateEntered", "SucceedStateExited",
                               "ExecutionSucceeded"]
    assert history.events[1]["details"]["output"] == {"metrics": {"mse": 4}, "gate": {"mse": 4, "name": "e1"}}
    outcome, history = run(definition, {"metrics": {"mse": 40}})
    assert outcome == Outcome("FAILED", error="QualityGate", cause="mse 40 too high")
    assert history.types()[-2:] == ["FailStateEntered", "ExecutionFailed"]


def test_a_task_is_retried_then_caught_with_its_error_placed_by_result_path() -> None:
    attempts: list[float] = []

    def flaky(call: TaskCall) -> Any:
        attempts.append(time.monotonic())
        raise StatesError("Model.Flaky", f"attempt {call.attempt} failed")

    definition = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "flaky", "Retry": [
            {"ErrorEquals": ["Other"], "MaxAttempts": 5},
            {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1.0}],
              "Catch": [{"ErrorEquals": ["Model.Flaky"], "ResultPath": "$.error", "Next": "Handled"}], "End": True},
        "Handled": {"Type": "Pass", "End": True}}}
    outcome, history = run(definition, {"x": 1}, Functions(flaky=flaky))
    assert len(attempts) == 3  # the first try and 2 retries
    assert attempts[1] - attempts[0] >= 0.95 and attempts[2] - attempts[1] >= 0.95
    assert outcome.status == "SUCCEEDED"
    assert outcome.output == {"x": 1, "error": {"Error": "Model.Flaky", "Cause": "attempt 2 failed"}}
    assert history.types().count("TaskFailed") == 3 and history.types().count("TaskScheduled") == 3


def test_result_selector_and_a_parameter_path_failure() -> None:
    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "echo", "Parameters": {"v.$": "$.v"}, "ResultSelector": {"got.$": "$.v"},
        "ResultPath": "$.r", "End": True}}}
    tasks = Functions(echo=lambda call: call.parameters)
    outcome, _ = run(definition, {"v": 3}, tasks)
    assert outcome.output == {"v": 3, "r": {"got": 3}}
    outcome, history = run(definition, {"w": 3}, tasks)
    assert outcome.status == "FAILED" and outcome.error == "States.ParameterPathFailure"
    assert "$.v" in (outcome.cause or "") and "TaskScheduled" not in history.types()


def test_parallel_branches_run_at_the_same_time_and_give_their_outputs_in_order() -> None:
    barrier = threading.Barrier(3, timeout=10)  # passes only if all three branches run at once

    def meet(call: TaskCall) -> Any:
        barrier.wait()
        return call.parameters["i"]

    branch = lambda i: {"StartAt": f"B{i}", "States": {  # noqa: E731
        f"B{i}": {"Type": "Task", "Resource": "meet", "Parameters": {"i": i}, "End": True}}}
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [branch(0), branch(1), branch(2)],
                                                    "End": True}}}
    outcome, history = run(definition, {}, Functions(meet=meet))
    assert outcome == Outcome("SUCCEEDED", output=[0, 1, 2])
    assert {e["thread"] for e in history.events if e["type"] == "TaskScheduled"} == {"/P#1/0", "/P#1/1", "/P#1/2"}


def test_a_failing_branch_fails_the_parallel_state_and_stops_the_others() -> None:
    stopped = threading.Event()

    def slow(call: TaskCall) -> Any:
        if call.stop.wait(20):
            stopped.set()
            raise StatesError("States.TaskFailed", "stopped")
        return "finished"

    def fail(call: TaskCall) -> Any:
        time.sleep(0.2)
        raise StatesError("Branch.Broke", "no")

    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "S", "States": {"S": {"Type": "Task", "Resource": "slow", "End": True}}},
        {"StartAt": "F", "States": {"F": {"Type": "Task", "Resource": "fail", "End": True}}}]}}}
    start = time.monotonic()
    outcome, history = run(definition, {}, Functions(slow=slow, fail=fail))
    assert time.monotonic() - start < 10 and stopped.is_set()
    assert outcome.status == "FAILED" and outcome.error == "Branch.Broke"
    assert "ParallelStateFailed" in history.types()


def test_map_runs_at_most_max_concurrency_iterations_at_once_with_item_selector() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def work(call: TaskCall) -> Any:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return call.parameters["index"] * 10 + call.parameters["value"]

    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3,
        "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": "work", "End": True}}},
        "ResultPath": "$.out", "End": True}}}
    outcome, history = run(definition, {"items": list(range(10))}, Functions(work=work))
    assert outcome.output == {"items": list(range(10)), "out": [i * 11 for i in range(10)]}
    assert peak[0] == 3
    assert history.types(None).count("MapIterationSucceeded") == 10


def test_map_tolerates_the_failures_it_is_told_to() -> None:
    def odd_fails(call: TaskCall) -> Any:
        if call.parameters % 2:
            raise StatesError("Item.Odd", str(call.parameters))
        return call.parameters

    processor = {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": "w", "End": True}}}
    tolerant = {"StartAt": "M", "States": {"M": {"Type": "Map", "ToleratedFailureCount": 2,
                                                  "ItemProcessor": processor, "End": True}}}
    outcome, _ = run(tolerant, [0, 1, 2, 3], Functions(w=odd_fails))
    assert outcome.output == [0, {"Error": "Item.Odd", "Cause": "1"}, 2, {"Error": "Item.Odd", "Cause": "3"}]
    outcome, _ = run(tolerant, [1, 3, 5], Functions(w=odd_fails))
    assert outcome.error == "States.ExceedToleratedFailureThreshold"


def test_wait_states() -> None:
    definition = {"StartAt": "W1", "States": {
        "W1": {"Type": "Wait", "SecondsPath": "$.s", "Next": "W2"},
        "W2": {"Type": "Wait", "Timestamp": "2020-01-01T00:00:00Z", "End": True}}}
    start = time.monotonic()
    outcome, _ = run(definition, {"s": 1})
    assert outcome.status == "SUCCEEDED" and 0.95 <= time.monotonic() - start < 5
    outcome, _ = run(definition, {"s": "soon"})
    assert outcome.error == "States.Runtime" and "SecondsPath" in (outcome.cause or "")


def test_stop_aborts_a_running_execution_and_reaches_its_task() -> None:
    reached = threading.Event()

    def long(call: TaskCall) -> Any:
        call.stop.wait(30)
        reached.set()
        raise StatesError("States.TaskFailed", "stopped")

    definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "long", "End": True}}}
    history = MemoryHistory()
    interpreter = Interpreter(definition, history, Functions(long=long), execution={"Id": "x", "Name": "x"})
    result: list[Outcome] = []
    t = threading.Thread(target=lambda: result.append(interpreter.run()))
    t.start()
    time.sleep(0.3)
    interpreter.stop()
    t.join(10)
    assert reached.is_set() and result == [Outcome("ABORTED")]
    assert history.types()[-1] == "ExecutionAborted" and "TaskFailed" not in history.types()


def test_an_execution_over_its_timeout_times_out() -> None:
    definition = {"StartAt": "W", "TimeoutSeconds": 1, "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
    start = time.monotonic()
    outcome, history = run(definition, {})
    assert outcome.status == "TIMED_OUT" and outcome.error == "States.Timeout" and time.monotonic() - start < 5
    assert history.types()[-1] == "ExecutionTimedOut"


def test_a_crashed_execution_resumes_without_running_a_finished_state_again() -> None:
    jobs: dict[str, str] = {}
    crash = [True]

    def prepare(call: TaskCall) -> Any:
        return {"prepared": True}

    def train(call: TaskCall) -> Any:
        if call.submitted is None:
            jobs["job-1"] = "InProgress"
            call.submit({"TrainingJobName": "job-1"})  # durable before the wait
        if crash[0]:
            raise Crash()  # the server dies while the job runs
        assert call.submitted == {"TrainingJobName": "job-1"}
        return {"TrainingJobStatus": "Completed", "name": call.submitted["TrainingJobName"]}

    definition = {"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Task", "Resource": "prepare", "ResultPath": "$.prep", "Next": "Loop"},
        "Loop": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "Item", "States": {
            "Item": {"Type": "Pass", "End": True}}}, "ResultPath": None, "Next": "Train"},
        "Train": {"Type": "Task", "Resource": "train", "ResultPath": "$.job", "End": True}}}
    tasks = Functions(prepare=prepare, train=train)
    history = MemoryHistory()
    with pytest.raises(Crash):
        run(definition, {"items": [1, 2]}, tasks, history)
    assert history.types()[-1] == "TaskSubmitted"
    before = len(history.events)

    crash[0] = False
    outcome, resumed = run(definition, {"items": [1, 2]}, tasks, recorded=history.events)
    assert outcome.output == {"items": [1, 2], "prep": {"prepared": True},
                              "job": {"TrainingJobStatus": "Completed", "name": "job-1"}}
    assert tasks.calls == {"prepare": 1, "train": 2} and list(jobs) == ["job-1"]  # one job, followed twice
    new = [e["type"] for e in resumed.events[before:]]
    assert new == ["TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]


def test_redrive_runs_the_failed_state_again_and_skips_what_succeeded() -> None:
    fail = [True]

    def once(call: TaskCall) -> Any:
        return "done"

    def flaky(call: TaskCall) -> Any:
        if fail[0]:
            raise StatesError("Job.Failed", "the job failed")
        return "fixed"

    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "once", "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Task", "Resource": "flaky", "ResultPath": "$.b", "Retry": [
            {"ErrorEquals": ["Job.Failed"], "MaxAttempts": 0}], "End": True}}}
    tasks = Functions(once=once, flaky=flaky)
    outcome, history = run(definition, {}, tasks)
    assert outcome.error == "Job.Failed"
    history.append([{"type": "ExecutionRedriven", "thread": "", "details": {}}])
    fail[0] = False
    outcome, redriven = run(definition, {}, tasks, recorded=history.events)
    assert outcome == Outcome("SUCCEEDED", output={"a": "done", "b": "fixed"})
    assert tasks.calls == {"once": 1, "flaky": 2}


def test_a_detached_execution_writes_no_end_and_its_job_goes_on_to_be_followed_again() -> None:
    submitted = threading.Event()
    jobs_stopped: list[str] = []

    def train(call: TaskCall) -> Any:
        if call.submitted is None:
            call.submit({"TrainingJobName": "job-1"})
            submitted.set()
        if call.stop.wait(30):
            if not call.stop.detaching:
                jobs_stopped.append("job-1")
            raise StatesError("States.TaskFailed", "let go")
        return {"done": call.submitted["TrainingJobName"]}

    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "train", "End": True}}}, "End": True}}}
    history = MemoryHistory()
    interpreter = Interpreter(definition, history, Functions(train=train), execution={"Id": "x", "Name": "x",
                                                                                       "Input": [1]})
    result: list[Outcome] = []
    t = threading.Thread(target=lambda: result.append(interpreter.run()))
    t.start()
    assert submitted.wait(10)
    interpreter.detach()  # the server is stopping
    t.join(10)
    assert result == [Outcome("DETACHED")] and jobs_stopped == []
    assert not any(k.startswith(("Execution", "MapIterationAborted", "TaskFailed")) for k in history.types(None))

    scheduled = next(e["timestamp"] for e in history.events if e["type"] == "TaskScheduled")

    def finish(call: TaskCall) -> Any:
        assert call.submitted == {"TrainingJobName": "job-1"}
        assert call.resumed and call.scheduled == scheduled  # its TimeoutSeconds counts from then
        return {"done": "job-1"}

    outcome, _ = run(definition, [1], Functions(train=finish), recorded=history.events)
    assert outcome == Outcome("SUCCEEDED", output=[{"done": "job-1"}])


def test_result_path_places_the_result_into_the_raw_input_also_for_a_catch() -> None:
    def fail(call: TaskCall) -> Any:
        raise StatesError("Job.Failed", "no")

    definition = {"StartAt": "P", "States": {
        "P": {"Type": "Pass", "InputPath": "$.job", "Parameters": {"n.$": "$.name"}, "ResultPath": "$.p", "Next": "T"},
        "T": {"Type": "Task", "Resource": "fail", "InputPath": "$.job", "ResultPath": "$.never",
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "End"}], "End": True},
        "End": {"Type": "Succeed"}}}
    outcome, _ = run(definition, {"job": {"name": "n"}, "other": 1}, Functions(fail=fail))
    assert outcome.output == {"job": {"name": "n"}, "other": 1, "p": {"n": "n"},
                              "error": {"Error": "Job.Failed", "Cause": "no"}}


def test_a_replayed_wait_waits_what_is_left_and_a_recorded_task_result_is_not_run_again() -> None:
    now = time.time()
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "Next": "T"},
                                             "T": {"Type": "Task", "Resource": "once", "End": True}}}
    recorded = [
        {"type": "WaitStateEntered", "thread": "", "details": {"name": "W", "visit": 1, "input": {}, "at": now - 29}},
        {"type": "WaitStateScheduled", "thread": "", "details": {"name": "W", "visit": 1, "until": now + 0.5}}]
    tasks = Functions(once=lambda call: "ran")
    start = time.monotonic()
    outcome, history = run(definition, {}, tasks, recorded=recorded)
    assert outcome.output == "ran" and time.monotonic() - start < 5
    assert history.types().count("WaitStateScheduled") == 1
    # a crash after the task's result was written and before its state's end: the result is used
    cut = [e for e in history.events if e["type"] not in ("TaskStateExited", "ExecutionSucceeded")]
    outcome, resumed = run(definition, {}, tasks, recorded=cut)
    assert outcome.output == "ran" and tasks.calls == {"once": 1}
    assert resumed.types().count("TaskSucceeded") == 1


def test_a_fan_outs_stop_token_is_let_go_when_its_flows_end() -> None:
    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {
        "P": {"Type": "Pass", "End": True}}}, "Next": "Par"},
        "Par": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}],
                "End": True}}}
    check(definition)
    interpreter = Interpreter(definition, MemoryHistory(), Functions(), execution={"Id": "x", "Name": "x",
                                                                                   "Input": [1, 2, 3]})
    assert interpreter.run().status == "SUCCEEDED"
    assert interpreter.stopping._children == []


def test_a_graph_node_in_flight_at_a_crash_is_followed_again_even_after_a_sibling_failed() -> None:
    """A pipeline's Graph: C (after B) submitted its job; A failed while C ran; the server died.
    The replay must take C up again (its job re-attached), not leave it behind."""
    def node(name: str, after: list[str]) -> dict[str, Any]:
        return {"After": after, "Machine": {"StartAt": name, "States": {name: {
            "Type": "Task", "Resource": name, "End": True}}}}

    graph = {"StartAt": "G", "States": {"G": {"Type": "Graph", "End": True, "Nodes": {
        "A": node("A", []), "B": node("B", []), "C": node("C", ["B"])}}}}
    c_submitted, a_failed = threading.Event(), threading.Event()

    def a(call: TaskCall) -> Any:
        c_submitted.wait(10)
        a_failed.set()
        raise StatesError("Boom", "A failed")

    def c(call: TaskCall) -> Any:
        call.submit({"job": "c-job"})
        c_submitted.set()
        a_failed.wait(10)
        time.sleep(0.2)  # the graph has seen A's failure
        raise Crash()

    def start(tasks: Any, history: MemoryHistory, recorded: list[dict[str, Any]] | None) -> Outcome:
        return Interpreter(graph, history, tasks, recorded=recorded, execution={
            "Id": "exec-g", "Name": "g", "Input": {}, "StartTime": "now",
            "StateMachine": {"Id": "sm", "Name": "sm"}}).run()

    history = MemoryHistory()
    with pytest.raises(Crash):
        start(Functions(A=a, B=lambda call: {"b": 1}, C=c), history, None)
    followed: list[Any] = []

    def c_again(call: TaskCall) -> Any:
        followed.append(call.submitted)
        return {"c": 1}

    replay_tasks = Functions(A=a, B=lambda call: {"b": 2}, C=c_again)
    outcome = start(replay_tasks, MemoryHistory(history.events), history.events)
    assert followed == [{"job": "c-job"}]  # re-attached to its job, not started again
    assert outcome.status == "FAILED" and outcome.error == "Boom"
    assert "A" not in replay_tasks.calls and "B" not in replay_tasks.calls  # their records stand
