"""Runs one execution of a state machine, durably.

The execution's history (Step Functions' event types) is the record of what happened: every event
is appended to a ``History`` (the catalog, in the server) *before* the interpreter acts on it. An
execution that was interrupted (a server that crashed, a redrive) is run again from its first
state in *replay*: a state whose ``...StateExited`` is in the history is not run again, its
recorded output is used; a task whose job was submitted is re-attached to that job (its
``TaskSubmitted`` says which), never started a second time; a Wait waits only what is left.

Control flow is deterministic given the recorded outputs, so the replay takes the same path. Each
flow of states has a *thread* key: ``""`` for the execution, ``<thread>/<state>#<visit>/<branch>``
for a Parallel branch or a Map iteration, and a state's visit number counts its entries in its
thread (a loop enters a state many times).

Tasks run through ``Tasks`` (``tasks.py`` holds the SageMaker and function integrations).

A ``Graph`` state is mlyard's own (never in a definition a user gives; a SageMaker pipeline
compiles to one): named nodes, each a sub-machine run in its own thread once the nodes in its
``After`` have succeeded, and only when the condition nodes in its ``When`` had the outcome it
names (else it is skipped, and so is what comes after it). A node's input is the state's input
with ``Steps``: the outputs of the nodes in its ``After``. After a node fails no other starts; those
running end, then the state fails with the first failure. Its output: each node's that ran.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlyard.workflow import choice, dataflow, intrinsics, paths
from mlyard.workflow.errors import (
    EXCEED_TOLERATED_FAILURE_THRESHOLD,
    HEARTBEAT_TIMEOUT,
    RUNTIME,
    TIMEOUT,
    StatesError,
    matches,
)

__all__ = ["History", "Tasks", "TaskCall", "Interpreter", "Stopped", "StopToken", "Outcome",
           "MAP_DEFAULT_CONCURRENCY"]

MAP_DEFAULT_CONCURRENCY = 40  # an inline Map with MaxConcurrency 0 runs this many iterations at a time


class History(Protocol):
    """Where an execution's events go, durably and in order."""

    def append(self, events: list[dict[str, Any]]) -> list[int]:
        """Write the events (each: type, thread, details) and return their ids; returns only once
        they are durable."""
        ...


class Tasks(Protocol):
    """Runs a Task state's resource."""

    def run(self, call: TaskCall) -> Any:
        """The task's result; raises StatesError when it fails (a failed job, a timeout)."""
        ...


class Stopped(Exception):
    """The execution was stopped (StopExecution) while a state ran."""


class StopToken:
    """Set when a flow must end: the execution was stopped, or a sibling branch or iteration
    failed. Setting a token sets the tokens of the flows under it."""

    def __init__(self, parent: StopToken | None = None) -> None:
        self._event = threading.Event()
        self._children: list[StopToken] = []
        self._lock = threading.Lock()
        self.detaching = False  # the server is stopping: end here, leave the work (jobs) running
        self._parent = parent
        if parent is not None:
            with parent._lock:
                parent._children.append(self)
            if parent.is_set():
                self.detaching = parent.detaching
                self._event.set()

    def set(self, detaching: bool = False) -> None:
        self.detaching = self.detaching or detaching
        self._event.set()
        with self._lock:
            children = list(self._children)
        for child in children:
            child.set(detaching)

    def is_set(self) -> bool:
        return self._event.is_set()

    def release(self) -> None:
        """The flows under this token have ended: its parent forgets it (a loop of fan-outs keeps
        no token of a past one)."""
        if self._parent is not None:
            with self._parent._lock:
                self._parent._children.remove(self)
            self._parent = None

    def wait(self, timeout: float | None) -> bool:
        return self._event.wait(timeout)


@dataclass
class TaskCall:
    """One attempt of a Task state, as the task integration sees it."""

    resource: str
    parameters: Any
    key: str                      # stable across replays: execution, thread, state, visit
    attempt: int
    submitted: dict[str, Any] | None  # what an earlier run of this attempt submitted (re-attach to it)
    stop: StopToken               # set: end the task (stop its job) and return
    timeout: float | None         # seconds (TimeoutSeconds) from ``scheduled``, None: no limit
    context: dict[str, Any]
    heartbeat: float | None = None  # seconds (HeartbeatSeconds): the longest the work may give no sign of life
    resumed: bool = False         # this attempt was scheduled before (a restart): what it made is its own
    scheduled: float = field(default_factory=time.time)  # when the attempt was first scheduled (epoch seconds)
    _record: Callable[[dict[str, Any]], Any] = field(repr=False, default=lambda info: None)

    def submit(self, info: dict[str, Any]) -> None:
        """Record that the task's work was submitted (a job created: its name); a replay hands
        ``info`` back as ``submitted`` instead of running the task again."""
        self._record(info)
        self.submitted = info


@dataclass
class Outcome:
    status: str                   # SUCCEEDED | FAILED | ABORTED | TIMED_OUT, or DETACHED (let go, not ended)
    output: Any = None
    error: str | None = None
    cause: str | None = None


@dataclass
class _Visit:
    """What the history says about one visit of one state in one thread."""

    entered: dict[str, Any] | None = None
    exited: dict[str, Any] | None = None
    until: float | None = None    # a Wait's end, as first scheduled
    attempts: list[dict[str, Any]] = field(default_factory=list)  # per attempt: scheduled/submitted/failed


class _Replay:
    """The recorded history, indexed by (thread, state, visit)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.visits: dict[tuple[str, str, int], _Visit] = {}
        self.seen: set[tuple[str, str, str, str]] = set()  # structural events (fan-outs, iterations) written
        last_task: dict[str, str] = {}
        for e in events:
            if e["type"] in ("TaskScheduled", "TaskSubmitted", "TaskSucceeded", "TaskFailed", "TaskTimedOut"):
                last_task[e.get("thread", "")] = e["type"]
        # flows whose task was in flight when the record ends (a job running across a restart)
        self.in_flight: set[str] = {t for t, kind in last_task.items() if kind in ("TaskScheduled", "TaskSubmitted")}
        redriven = 0
        for e in events:
            if e["type"] == "ExecutionRedriven":
                redriven += 1
                for unfinished in self.visits.values():  # a redrive enters what did not end again
                    if unfinished.exited is None:
                        unfinished.entered = None
                self.seen = {k for k in self.seen if not k[1].startswith(("MapIteration", "Map", "Parallel"))
                             or k[1].endswith(("Started", "Succeeded"))}
            d = e.get("details") or {}
            self.seen.add((e.get("thread", ""), e["type"], d.get("name", ""), str(d.get("visit", d.get("index", 0)))))
            number = d.get("visit")
            visit = (self.visits.setdefault((e.get("thread", ""), d.get("name", ""), number), _Visit())
                     if isinstance(number, int) else None)
            kind = e["type"]
            if visit is None:
                continue
            if kind.endswith("StateEntered"):
                visit.entered = d
            elif kind.endswith("StateExited"):
                visit.exited = d
            elif kind == "TaskScheduled":
                visit.attempts.append({"attempt": d.get("attempt", 0), "redrive": redriven,
                                       "scheduled": e.get("timestamp")})
            elif kind == "WaitStateScheduled":
                visit.until = d.get("until")
            elif kind == "TaskSubmitted" and visit.attempts:
                visit.attempts[-1]["submitted"] = d.get("output")
            elif kind in ("TaskFailed", "TaskTimedOut", "TaskSucceeded") and visit.attempts:
                visit.attempts[-1].update(ended=kind, error=d.get("error"), cause=d.get("cause"),
                                          output=d.get("output"))
        self.redrives = redriven
        for visit in self.visits.values():  # a redrive gives a state its retries again
            visit.attempts = [a for a in visit.attempts if a["redrive"] == redriven]

    def visit(self, thread: str, name: str, number: int) -> _Visit:
        return self.visits.get((thread, name, number)) or _Visit()


class Interpreter:
    """Runs (or resumes) one execution. ``run`` blocks until it ends; ``stop`` aborts it."""

    def __init__(self, definition: dict[str, Any], history: History, tasks: Tasks, *, execution: dict[str, Any],
                 recorded: list[dict[str, Any]] | None = None, now: Callable[[], float] = time.time) -> None:
        self.definition = definition
        self.history = history
        self.tasks = tasks
        self.execution = execution    # Id, Name, Input, RoleArn, StartTime, StateMachine {Id, Name}
        self.replay = _Replay(recorded or [])
        self.now = now
        self.stopping = StopToken()
        self._abort_reason: tuple[str | None, str | None] = (None, None)
        self._lock = threading.Lock()
        self._visits: dict[tuple[str, str], int] = {}
        self._last: dict[str, int] = {}

    # -- events ------------------------------------------------------------------------------
    def _emit(self, thread: str, kind: str, **details: Any) -> int:
        # A flow's events come from one Python thread; the previous event is the flow's last one,
        # or, for its first, its parent's.
        previous = self._last.get(thread) or (self._last.get(thread.rsplit("/", 2)[0], 0) if thread else 0)
        (event_id,) = self.history.append([{"type": kind, "thread": thread, "previous": previous,
                                            "timestamp": self.now(), "details": details}])
        self._last[thread] = event_id
        return event_id

    def _emit_once(self, thread: str, kind: str, **details: Any) -> None:
        """An event that a replay finds written already is not written again."""
        key = (thread, kind, details.get("name", ""), str(details.get("visit", details.get("index", 0))))
        if key not in self.replay.seen:
            self._emit(thread, kind, **details)

    def _next_visit(self, thread: str, name: str) -> int:
        with self._lock:
            number = self._visits.get((thread, name), 0) + 1
            self._visits[(thread, name)] = number
        return number

    def _context(self, state: str, entered: float, retry: int = 0, item: tuple[int, Any] | None = None
                 ) -> dict[str, Any]:
        e = self.execution
        ctx: dict[str, Any] = {
            "Execution": {"Id": e["Id"], "Name": e["Name"], "Input": e.get("Input"), "RoleArn": e.get("RoleArn"),
                          "StartTime": e.get("StartTime"), "RedriveCount": self.replay.redrives},
            "State": {"Name": state, "EnteredTime": _iso(entered), "RetryCount": retry},
            "StateMachine": e.get("StateMachine") or {},
        }
        if item is not None:
            ctx["Map"] = {"Item": {"Index": item[0], "Value": item[1]}}
        return ctx

    # -- the execution ------------------------------------------------------------------------
    def run(self) -> Outcome:
        """Run the execution to its end (``ExecutionSucceeded``/``Failed``/``Aborted``/``TimedOut``
        is the last event it writes)."""
        limit = self.definition.get("TimeoutSeconds")
        if limit:
            started = self.execution.get("StartedAt") or self.now()
            remaining = max(0.0, float(limit) - (self.now() - started))
            timer = threading.Timer(remaining, self._time_out)
            timer.daemon = True
            timer.start()
        else:
            timer = None
        self._timed_out = False
        try:
            output = self._machine(self.definition, self.execution.get("Input"), "", self.stopping)
        except Stopped:
            if self.stopping.detaching:  # nothing is written: the next server replays it and goes on
                return Outcome("DETACHED")
            if self._timed_out:
                cause = f"the execution ran longer than its TimeoutSeconds of {limit}"
                self._emit("", "ExecutionTimedOut", error=TIMEOUT, cause=cause)
                return Outcome("TIMED_OUT", error=TIMEOUT, cause=cause)
            reason = {k: v for k, v in zip(("error", "cause"), self._abort_reason, strict=True) if v}
            self._emit("", "ExecutionAborted", **reason)
            return Outcome("ABORTED", error=reason.get("error"), cause=reason.get("cause"))
        except StatesError as exc:
            self._emit("", "ExecutionFailed", error=exc.error, cause=exc.cause)
            return Outcome("FAILED", error=exc.error, cause=exc.cause)
        finally:
            if timer is not None:
                timer.cancel()
        self._emit("", "ExecutionSucceeded", output=output)
        return Outcome("SUCCEEDED", output=output)

    def stop(self, error: str | None = None, cause: str | None = None) -> None:
        self._abort_reason = (error, cause)
        self.stopping.set()

    def detach(self) -> None:
        """Let go of the execution without ending it (the server is stopping): its running tasks
        return without stopping their jobs, and no event says it ended."""
        self.stopping.set(detaching=True)

    def _time_out(self) -> None:
        self._timed_out = True
        self.stopping.set()

    def _machine(self, machine: dict[str, Any], data: Any, thread: str, stop: StopToken) -> Any:
        states = machine["States"]
        name = machine["StartAt"]
        while True:
            if stop.is_set():
                raise Stopped()
            state = states[name]
            output, following = self._state(name, state, data, thread, stop)
            if following is None:
                return output
            name, data = following, output

    def _state(self, name: str, state: dict[str, Any], data: Any, thread: str, stop: StopToken
               ) -> tuple[Any, str | None]:
        """Run one state; (its output, the next state's name or None at the end)."""
        number = self._next_visit(thread, name)
        recorded = self.replay.visit(thread, name, number)
        kind = state["Type"]
        if recorded.exited is not None:  # ran to its end before: its recorded output, not a second run
            return recorded.exited.get("output"), recorded.exited.get("next")
        if kind == "Fail":
            error, cause = self._fail_fields(state, data, name)
            if recorded.entered is None:
                self._emit(thread, "FailStateEntered", name=name, visit=number, input=data)
            raise StatesError(error, cause)
        entered_at = float((recorded.entered or {}).get("at") or self.now())
        if recorded.entered is None:
            self._emit(thread, f"{kind}StateEntered", name=name, visit=number, input=data, at=entered_at)
        output, following = self._run_state(name, state, data, thread, number, entered_at, recorded, stop)
        self._emit(thread, f"{kind}StateExited", name=name, visit=number, output=output, next=following)
        return output, following

    def _fail_fields(self, state: dict[str, Any], data: Any, name: str) -> tuple[str, str]:
        ctx = self._context(name, self.now())
        out = []
        for field_name in ("Error", "Cause"):
            value = state.get(field_name)
            path = state.get(field_name + "Path")
            if path is not None:
                value = (intrinsics.evaluate(intrinsics.parse(path), data, ctx) if intrinsics.is_call(path)
                         else paths.read(path, data, ctx))
                if value is paths.MISSING:
                    raise StatesError(RUNTIME, f"{field_name}Path {path!r} selects nothing in {paths.short(data)}")
            out.append("" if value is None else str(value))
        return out[0] or "States.Fail", out[1]

    def _run_state(self, name: str, state: dict[str, Any], raw: Any, thread: str, visit: int, entered: float,
                   recorded: _Visit, stop: StopToken) -> tuple[Any, str | None]:
        kind = state["Type"]
        ctx = self._context(name, entered)
        following = None if state.get("End") else state.get("Next")
        data = dataflow.input_path(state, raw, ctx)
        if kind == "Succeed":
            return dataflow.output_path(state, data, ctx), None
        if kind == "Choice":
            return dataflow.output_path(state, data, ctx), choice.choose(state, data, ctx)
        if kind == "Wait":
            self._wait(state, data, thread, name, visit, recorded, stop)
            return dataflow.output_path(state, data, ctx), following
        if kind == "Graph":
            return dataflow.output_path(state, self._graph(name, state, data, thread, visit, stop), ctx), following
        if kind == "Pass":
            effective = dataflow.template(state["Parameters"], data, ctx) if "Parameters" in state else data
            result = state.get("Result", effective)
            return dataflow.output_path(state, dataflow.result_path(state, raw, result), ctx), following
        # Task, Parallel, Map: Retry and Catch apply
        try:
            result = self._with_retries(name, state, data, thread, visit, entered, recorded, stop)
        except StatesError as exc:
            for catcher in state.get("Catch") or []:
                if matches(catcher["ErrorEquals"], exc.error):
                    caught = dataflow.result_path(catcher, raw, exc.output())
                    return caught, catcher["Next"]
            raise
        if "ResultSelector" in state:
            result = dataflow.template(state["ResultSelector"], result, ctx, "ResultSelector")
        return dataflow.output_path(state, dataflow.result_path(state, raw, result), ctx), following

    def _with_retries(self, name: str, state: dict[str, Any], data: Any, thread: str, visit: int, entered: float,
                      recorded: _Visit, stop: StopToken) -> Any:
        retriers = state.get("Retry") or []
        counts = [0] * len(retriers)
        past = recorded.attempts
        attempt = 0
        while True:
            previous = past[attempt] if attempt < len(past) else None
            try:
                return self._attempt(name, state, data, thread, visit, entered, attempt, previous, stop)
            except StatesError as exc:
                index = next((i for i, r in enumerate(retriers) if matches(r["ErrorEquals"], exc.error)), None)
                if index is None:
                    raise
                r = retriers[index]
                if counts[index] >= int(r.get("MaxAttempts", 3)):
                    raise
                delay = float(r.get("IntervalSeconds", 1)) * float(r.get("BackoffRate", 2.0)) ** counts[index]
                if "MaxDelaySeconds" in r:
                    delay = min(delay, float(r["MaxDelaySeconds"]))
                if r.get("JitterStrategy") == "FULL":
                    delay = random.uniform(0, delay)
                counts[index] += 1
                attempt += 1
                # (a failure found in the history was waited for already)
                if (previous is None or attempt >= len(past)) and stop.wait(delay):
                    raise Stopped() from None

    def _attempt(self, name: str, state: dict[str, Any], data: Any, thread: str, visit: int, entered: float,
                 attempt: int, previous: dict[str, Any] | None, stop: StopToken) -> Any:
        kind = state["Type"]
        ctx = self._context(name, entered, retry=attempt)
        if previous is not None and previous.get("ended") in ("TaskFailed", "TaskTimedOut"):  # failed before
            raise StatesError(str(previous.get("error")), str(previous.get("cause")))
        if previous is not None and previous.get("ended") == "TaskSucceeded":  # its result, not a second run
            return previous.get("output")
        if kind == "Parallel":
            return self._parallel(name, state, dataflow.template(state["Parameters"], data, ctx)
                                  if "Parameters" in state else data, thread, _flow(visit, attempt), stop)
        if kind == "Map":
            return self._map(name, state, data, thread, _flow(visit, attempt), ctx, stop)
        parameters = dataflow.template(state["Parameters"], data, ctx) if "Parameters" in state else data
        timeout = self._seconds(state, "TimeoutSeconds", data)
        heartbeat = self._seconds(state, "HeartbeatSeconds", data)
        resource = state["Resource"]
        if previous is None:
            self._emit(thread, "TaskScheduled", name=name, visit=visit, attempt=attempt, resource=resource,
                       parameters=parameters, timeout=timeout, heartbeat=heartbeat)
        call = TaskCall(resource=state["Resource"], parameters=parameters,
                        key=f"{self.execution['Id']}|{thread}|{name}|{visit}|{attempt}|{self.replay.redrives}",
                        attempt=attempt, submitted=(previous or {}).get("submitted"), stop=stop,
                        resumed=previous is not None,
                        scheduled=float((previous or {}).get("scheduled") or self.now()),
                        timeout=timeout, heartbeat=heartbeat, context=ctx,
                        _record=lambda info: self._emit(thread, "TaskSubmitted", name=name, visit=visit,
                                                        attempt=attempt, resource=resource, output=info))
        try:
            result = self.tasks.run(call)
        except StatesError as exc:
            if stop.is_set():
                raise Stopped() from None
            kind_of = "TaskTimedOut" if exc.error in (TIMEOUT, HEARTBEAT_TIMEOUT) else "TaskFailed"
            self._emit(thread, kind_of, name=name, visit=visit, attempt=attempt, resource=resource, error=exc.error,
                       cause=exc.cause)
            raise
        self._emit(thread, "TaskSucceeded", name=name, visit=visit, attempt=attempt, resource=resource, output=result)
        return result

    def _seconds(self, state: dict[str, Any], field_name: str, data: Any) -> float | None:
        if field_name in state:
            return float(state[field_name])
        if field_name + "Path" in state:
            value = paths.read(state[field_name + "Path"], data)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise StatesError(RUNTIME, f"{field_name}Path {state[field_name + 'Path']!r} must select a positive "
                                           f"number, not {paths.short(None if value is paths.MISSING else value)}")
            return float(value)
        return None

    # -- Wait ---------------------------------------------------------------------------------
    def _wait(self, state: dict[str, Any], data: Any, thread: str, name: str, visit: int, recorded: _Visit,
              stop: StopToken) -> None:
        until = recorded.until
        if until is None:
            until = self._deadline(state, data)
            self._emit(thread, "WaitStateScheduled", name=name, visit=visit, until=until)
        remaining = float(until) - self.now()
        if remaining > 0 and stop.wait(remaining):
            raise Stopped()

    def _deadline(self, state: dict[str, Any], data: Any) -> float:
        if "Seconds" in state:
            return self.now() + float(state["Seconds"])
        if "SecondsPath" in state:
            value = paths.read(state["SecondsPath"], data)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise StatesError(RUNTIME, f"SecondsPath {state['SecondsPath']!r} must select a number of 0 or more")
            return self.now() + float(value)
        text = state["Timestamp"] if "Timestamp" in state else paths.read(state["TimestampPath"], data)
        stamp = choice.timestamp(text)
        if stamp is None:
            raise StatesError(RUNTIME, f"the Wait state's timestamp {paths.short(text)} is not an RFC 3339 timestamp")
        return stamp.timestamp()

    # -- Parallel and Map ------------------------------------------------------------------------
    def _parallel(self, name: str, state: dict[str, Any], data: Any, thread: str, visit: Any, stop: StopToken
                  ) -> list[Any]:
        branches = state["Branches"]
        self._emit_once(thread, "ParallelStateStarted", name=name, visit=visit)
        base = f"{thread}/{name}#{visit}"
        try:
            results = self._fan_out([(f"{base}/{i}", branch, data) for i, branch in enumerate(branches)],
                                    len(branches), None, stop, None)
        except StatesError as exc:
            self._emit_once(thread, "ParallelStateFailed", name=name, visit=visit, error=exc.error, cause=exc.cause)
            raise
        self._emit_once(thread, "ParallelStateSucceeded", name=name, visit=visit)
        return results

    def _map(self, name: str, state: dict[str, Any], data: Any, thread: str, visit: Any, ctx: dict[str, Any],
             stop: StopToken) -> list[Any]:
        items_path = state.get("ItemsPath", "$")
        items = data if items_path == "$" else paths.read(items_path, data, ctx)
        if not isinstance(items, list):
            raise StatesError(RUNTIME, f"the Map state's ItemsPath {items_path!r} must select an array, not "
                                       f"{paths.short(None if items is paths.MISSING else items)}")
        processor: dict[str, Any] = state.get("ItemProcessor") or state["Iterator"]
        selector = state.get("ItemSelector", state.get("Parameters"))
        inputs = []
        for index, item in enumerate(items):
            item_ctx = dict(ctx, Map={"Item": {"Index": index, "Value": item}})
            inputs.append(dataflow.template(selector, data, item_ctx, "ItemSelector") if selector is not None
                          else item)
        self._emit_once(thread, "MapStateStarted", name=name, visit=visit, length=len(items))
        base = f"{thread}/{name}#{visit}"
        limit = int(state.get("MaxConcurrency") or 0) or MAP_DEFAULT_CONCURRENCY
        tolerated = None
        if "ToleratedFailureCount" in state or "ToleratedFailurePercentage" in state:
            tolerated = min(int(state.get("ToleratedFailureCount", len(items))),
                            int(len(items) * float(state.get("ToleratedFailurePercentage", 100)) / 100))
        try:
            results = self._fan_out([(f"{base}/{i}", processor, value) for i, value in enumerate(inputs)],
                                    limit, tolerated, stop, name)
        except StatesError as exc:
            self._emit_once(thread, "MapStateFailed", name=name, visit=visit, error=exc.error, cause=exc.cause)
            raise
        self._emit_once(thread, "MapStateSucceeded", name=name, visit=visit)
        return results

    def _fan_out(self, flows: list[tuple[str, dict[str, Any], Any]], concurrency: int, tolerated: int | None,
                 stop: StopToken, map_name: str | None) -> list[Any]:
        """Run sub-machines (branches, iterations) ``concurrency`` at a time, results in order. The
        first failure stops the others and is raised (unless ``tolerated`` failures are allowed:
        then a failed one's result is its error, and more than that many fail the state)."""
        if not flows:
            return []
        results: list[Any] = [None] * len(flows)
        failures: list[StatesError] = []
        own_stop = StopToken(stop)  # set: the flows not yet ended end (a sibling failed)
        parent = self

        def one(index: int) -> None:
            thread, machine, data = flows[index]
            if own_stop.is_set():
                return
            if map_name is not None:
                parent._emit_once(thread, "MapIterationStarted", name=map_name, index=index)
            try:
                results[index] = parent._machine(machine, data, thread, own_stop)
            except StatesError as exc:
                if map_name is not None:
                    parent._emit_once(thread, "MapIterationFailed", name=map_name, index=index, error=exc.error,
                                 cause=exc.cause)
                with parent._lock:
                    failures.append(exc)
                    over = tolerated is None or len(failures) > tolerated
                if over:
                    own_stop.set()
                    raise
                results[index] = exc.output()
                return
            except Stopped:
                if map_name is not None and not own_stop.detaching:
                    parent._emit(thread, "MapIterationAborted", name=map_name, index=index)
                raise
            if map_name is not None:
                parent._emit_once(thread, "MapIterationSucceeded", name=map_name, index=index)

        try:
            with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(flows))),
                                    thread_name_prefix="workflow-flow") as pool:
                futures = [pool.submit(one, i) for i in range(len(flows))]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for f in futures:
                    if f.done() and f.exception() is not None:
                        for other in futures:
                            other.cancel()
                        break
        finally:  # every flow has ended (the pool waited for them)
            own_stop.release()
        for f in futures:  # a defect (not a States error, not a stop) is not a success with a null
            exc = f.exception() if f.done() and not f.cancelled() else None
            if exc is not None and not isinstance(exc, (StatesError, Stopped)):
                own_stop.set()
                raise exc
        if failures and (tolerated is None or len(failures) > tolerated):
            if tolerated is not None:
                raise StatesError(EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                  f"{len(failures)} of {len(flows)} iterations failed, more than the {tolerated} "
                                  f"tolerated; the first: {failures[0].error}: {failures[0].cause}")
            raise failures[0]
        for f in futures:
            exc = f.exception() if f.done() and not f.cancelled() else None
            if isinstance(exc, Stopped):
                raise exc
        if stop.is_set():
            raise Stopped()
        return results

    # -- Graph (a pipeline's steps) --------------------------------------------------------------
    def _graph(self, name: str, state: dict[str, Any], data: Any, thread: str, visit: int, stop: StopToken
               ) -> dict[str, Any]:
        nodes: dict[str, dict[str, Any]] = state["Nodes"]
        base = f"{thread}/{name}#{visit}"
        outputs: dict[str, Any] = {}
        status: dict[str, str] = {}  # node -> running | succeeded | failed | skipped | not-run
        failures: list[StatesError] = []
        stopped = False
        own_stop = StopToken(stop)
        parent = self

        def one(node: str, machine: dict[str, Any], node_input: Any) -> Any:
            return parent._machine(machine, node_input, f"{base}/{node}", own_stop)

        def settle() -> list[str]:
            """Mark what can no longer run; the nodes that may start now."""
            ready: list[str] = []
            changed = True
            while changed:
                changed = False
                for node, spec in nodes.items():
                    if node in status:
                        continue
                    after = spec.get("After") or []
                    if any(status.get(a) in (None, "running") for a in after):
                        continue
                    outcome = None
                    # a node that began before a restart is taken up again (its job followed), even
                    # after a failure: the first run started it, the replay must too
                    begun = f"{base}/{node}" in parent.replay.in_flight
                    if any(status[a] in ("failed", "not-run") for a in after) or stopped or (failures and not begun):
                        outcome = "not-run"
                    elif any(status[a] == "skipped" for a in after) or any(
                            not isinstance(outputs.get(c), dict) or outputs[c].get("Outcome") is not bool(want)
                            for c, want in spec.get("When") or []):
                        outcome = "skipped"
                    if outcome is not None:
                        status[node] = outcome
                        changed = True
                    elif node not in ready:
                        ready.append(node)
            return ready

        limit = max(1, int(state.get("MaxConcurrency") or 0) or MAP_DEFAULT_CONCURRENCY)
        running: dict[Any, str] = {}
        try:
            with ThreadPoolExecutor(max_workers=max(1, min(limit, len(nodes))),
                                    thread_name_prefix="workflow-node") as pool:
                while True:
                    for node in settle():
                        if len(running) >= limit:
                            break
                        spec = nodes[node]
                        node_input = dict(data, Steps={a: outputs[a] for a in spec.get("After") or []})
                        status[node] = "running"
                        running[pool.submit(one, node, spec["Machine"], node_input)] = node
                    if not running:
                        break
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        node = running.pop(future)
                        exc = future.exception()
                        if exc is None:
                            outputs[node] = future.result()
                            status[node] = "succeeded"
                        elif isinstance(exc, StatesError):
                            status[node] = "failed"
                            failures.append(exc)
                        elif isinstance(exc, Stopped):
                            status[node] = "failed"
                            stopped = True
                        else:  # a defect: the others are stopped, it is raised
                            own_stop.set()
                            raise exc
        finally:
            own_stop.release()
        if failures:
            raise failures[0]
        if stopped or stop.is_set():
            raise Stopped()
        return outputs


def _flow(visit: int, attempt: int) -> Any:
    """The part of a fan-out's flow keys that names the state's visit (and its retry, if one)."""
    return visit if attempt == 0 else f"{visit}.{attempt}"


def _iso(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).isoformat().replace("+00:00", "Z")
