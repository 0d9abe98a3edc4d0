"""Workflows (Step Functions state machines) on the control plane: their definitions, their
executions, each run by the interpreter in a thread of the server with its history in the catalog,
and the controller that takes running executions up again after a restart."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import traceback
import uuid
from typing import TYPE_CHECKING, Any

from mlyard.catalog.workflows import Workflows as WorkflowRecords
from mlyard.errors import ConflictError, NotFoundError, ValidationError
from mlyard.server.controllers import Controller
from mlyard.server.describe import arn, iso
from mlyard.workflow import check, schedules
from mlyard.workflow.interpreter import Interpreter, Outcome
from mlyard.workflow.tasks import ControlPlaneTasks, resource_api

if TYPE_CHECKING:
    from mlyard.server.control import ControlPlane

__all__ = ["Workflows"]

KIND = "workflow"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
ENDED = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")


def _check_name(what: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"{what} {name!r} must be 1 to 80 letters, digits, '-' or '_'")
    return name


def _definition(value: Any) -> dict[str, Any]:
    """A definition given as an object or as its JSON text, checked (every problem listed)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValidationError(f"the definition is not JSON: {exc}") from None
    check(value)
    problems = []
    for name, state in _tasks(value):
        try:
            resource_api(str(state.get("Resource")))
        except ValueError as exc:
            problems.append(f"State {name!r}: {exc}")
    if problems:
        raise ValidationError("the state machine definition is not valid (" + str(len(problems)) + " problem"
                              + ("s" if len(problems) > 1 else "") + "): " + "; ".join(problems))
    result: dict[str, Any] = value
    return result


def _schedule(value: Any) -> dict[str, Any]:
    """A schedule of a workflow: {"expression": "rate(1 day)" | "cron(...)", "input": ...}."""
    if not isinstance(value, dict) or not isinstance(value.get("expression"), str):
        raise ValidationError("a schedule is {\"expression\": \"rate(...)\" or \"cron(...)\", \"input\": ...}")
    try:
        schedules.parse(value["expression"])
    except schedules.ScheduleError as exc:
        raise ValidationError(str(exc)) from None
    return {"expression": value["expression"].strip(), "input": value.get("input"), "since": time.time()}


_KINDS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
                                       "list": (list,), "dict": (dict,)}


def _input_schema(schema: Any) -> dict[str, Any]:
    """An ExecutionInput schema: keys to type names (str, int, float, bool, list, dict), nested."""
    if not isinstance(schema, dict):
        raise ValidationError("inputSchema must be an object of keys to type names or nested schemas")
    for key, kind in schema.items():
        if isinstance(kind, dict):
            _input_schema(kind)
        elif kind is not None and not (isinstance(kind, str) and kind in _KINDS):
            raise ValidationError(f"inputSchema {key!r}: {kind!r} is not one of {', '.join(_KINDS)}")
    return schema


def _check_input(schema: dict[str, Any], data: Any) -> None:
    """Refuse an execution input without every key of the schema, each of its type."""
    missing: list[str] = []
    wrong: list[str] = []

    def walk(node: dict[str, Any], value: Any, prefix: str) -> None:
        for key, kind in node.items():
            path = prefix + key
            if not isinstance(value, dict) or key not in value:
                missing.append(path)
            elif isinstance(kind, dict):
                walk(kind, value[key], path + ".")
            elif kind is not None and (not isinstance(value[key], _KINDS[kind])
                                       or (isinstance(value[key], bool) and kind != "bool")):
                wrong.append(f"{path} (a {kind}, not {json.dumps(value[key])})")

    walk(schema, data, "")
    if missing or wrong:
        raise ValidationError("the execution input does not match the workflow's input schema: "
                              + "; ".join(([f"missing {', '.join(missing)}"] if missing else [])
                                          + ([f"of another type: {', '.join(wrong)}"] if wrong else [])))


def _check_schedule_input(spec: dict[str, Any]) -> None:
    """A schedule's input must match the input schema: its runs would all be refused."""
    sched, schema = spec.get("schedule"), spec.get("input_schema")
    if sched and schema:
        data = sched.get("input")
        try:
            if isinstance(data, str):
                try:
                    data = json.loads(data)
                except ValueError as exc:
                    raise ValidationError(f"it is not JSON: {exc}") from None
            _check_input(schema, {} if data is None else data)
        except ValidationError as exc:
            raise ValidationError(f"the schedule's input: {exc.message}") from None


def _tasks(machine: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, state in (machine.get("States") or {}).items():
        if state.get("Type") == "Task":
            out.append((name, state))
        for branch in state.get("Branches") or []:
            out += _tasks(branch)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if isinstance(processor, dict):
            out += _tasks(processor)
    return out


class Workflows(Controller):
    kind = KIND

    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self.records = WorkflowRecords(control.catalog)
        self.tasks = ControlPlaneTasks(control)
        self._lock = threading.Lock()
        self._specs = threading.Lock()  # read-modify-writes of a state machine's spec (its schedule)
        self._runs: dict[str, tuple[Interpreter, threading.Thread]] = {}
        self._checked = 0.0

    # -- state machines -------------------------------------------------------------------------
    def create(self, req: dict[str, Any]) -> dict[str, Any]:
        name = _check_name("workflow name", req.get("name"))
        definition = _definition(req.get("definition"))
        spec = {"type": req.get("type") or "STANDARD", "tags": req.get("tags") or []}
        if spec["type"] != "STANDARD":
            raise ValidationError(f"type {spec['type']!r}: only STANDARD workflows run here")
        if req.get("schedule"):
            spec["schedule"] = _schedule(req["schedule"])
        if req.get("inputSchema"):
            spec["input_schema"] = _input_schema(req["inputSchema"])
        _check_schedule_input(spec)
        self.records.insert_state_machine(name, definition, req.get("roleArn"), spec)
        return self.describe(name)

    def describe(self, name: str) -> dict[str, Any]:
        row = self.records.get_state_machine(name)
        out = {"stateMachineArn": arn("stateMachine", name), "name": name, "status": "ACTIVE",
               "definition": json.dumps(row["definition"]), "roleArn": row["role"], "type": row["spec"]["type"],
               "revision": row["revision"], "creationDate": iso(row["created_at"]),
               "updateDate": iso(row["modified_at"])}
        sched = row["spec"].get("schedule")
        if sched:
            following = schedules.parse(sched["expression"]).next_after(max(time.time(), sched.get("last") or 0),
                                                                        sched["since"])
            out["schedule"] = {"expression": sched["expression"], "input": sched.get("input"),
                               "lastRun": iso(sched.get("last")), "nextRun": iso(following)}
        return out

    def update(self, name: str, req: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if req.get("definition") is not None:
            fields["definition"] = _definition(req["definition"])
        if req.get("roleArn") is not None:
            fields["role"] = req["roleArn"]
        if not fields and not ("schedule" in req and req.get("schedule") != {}):
            raise ValidationError("an update needs a definition, a roleArn or a schedule")
        with self._specs:  # the schedule's tick writes the spec too
            if "schedule" in req and req.get("schedule") != {}:
                spec = dict(self.records.get_state_machine(name)["spec"])
                if req["schedule"] is None:
                    spec.pop("schedule", None)
                else:
                    spec["schedule"] = _schedule(req["schedule"])
                    _check_schedule_input(spec)
                fields["spec"] = spec
            self.records.update_state_machine(name, **fields)
        return self.describe(name)

    def delete(self, name: str) -> None:
        self.records.get_state_machine(name)
        for row in self.records.list_executions(name, status="RUNNING", limit=None):
            self.stop_execution(row["id"], "States.Aborted", "the workflow was deleted")
        self.records.delete_executions(name)
        self.records.delete_state_machine(name)

    def list_workflows(self) -> list[dict[str, Any]]:
        return [{"stateMachineArn": arn("stateMachine", r["name"]), "name": r["name"], "type": r["spec"]["type"],
                 "creationDate": iso(r["created_at"])} for r in self.records.list_state_machines()]

    # -- executions ---------------------------------------------------------------------------
    def start(self, workflow: str, req: dict[str, Any]) -> dict[str, Any]:
        machine = self.records.get_state_machine(workflow)
        name = _check_name("execution name", req.get("name") or str(uuid.uuid4()))
        data = req.get("input")
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise ValidationError(f"the execution input is not JSON: {exc}") from None
        data = {} if data is None else data
        if machine["spec"].get("input_schema"):
            _check_input(machine["spec"]["input_schema"], data)
        execution = f"{workflow}:{name}"
        self.records.insert_execution({"id": execution, "state_machine": workflow, "name": name,
                                       "status": "RUNNING", "definition": machine["definition"], "input": data})
        row = self.records.get_execution(execution)
        self.records.events.append(execution, [{"type": "ExecutionStarted", "thread": "", "timestamp": time.time(),
                                                "details": {"input": data, "roleArn": machine["role"]}}])
        self._run(row)
        return {"executionArn": arn("execution", execution), "startDate": iso(row["started_at"])}

    def _run(self, row: dict[str, Any], recorded: list[dict[str, Any]] | None = None,
             redriven_at: float | None = None) -> None:
        execution = row["id"]
        records = self.records

        class History:
            def append(self, events: list[dict[str, Any]]) -> list[int]:
                return records.events.append(execution, events)

        interpreter = Interpreter(row["definition"], History(), self.tasks, recorded=recorded, execution={
            "Id": arn("execution", execution), "Name": row["name"], "Input": row["input"],
            "RoleArn": self._role(row["state_machine"]),
            "StartTime": iso(row["started_at"]), "StartedAt": redriven_at or row["started_at"],  # (timeouts)
            "StateMachine": {"Id": arn("stateMachine", row["state_machine"]), "Name": row["state_machine"]}})
        thread = threading.Thread(target=self._drive, args=(execution, interpreter), daemon=True,
                                  name=f"mlyard-workflow-{execution}")
        with self._lock:
            self._runs[execution] = (interpreter, thread)
        thread.start()

    def _role(self, workflow: str) -> str | None:
        try:
            role: str | None = self.records.get_state_machine(workflow)["role"]
            return role
        except NotFoundError:
            return None

    def _drive(self, execution: str, interpreter: Interpreter) -> None:
        try:
            outcome = interpreter.run()
        except Exception as exc:  # a defect of ours: the execution fails with it, the server goes on
            traceback.print_exc()
            outcome = Outcome("FAILED", error="States.Runtime", cause=f"mlyard's workflow engine failed: {exc!r}")
            try:
                self.records.events.append(execution, [{"type": "ExecutionFailed", "thread": "", "details": {
                    "error": outcome.error, "cause": outcome.cause}}])
            except Exception:
                traceback.print_exc()
        if outcome.status == "DETACHED":
            return  # the server is stopping: the execution goes on after its restart
        self.records.update_execution(execution, status=outcome.status, output=outcome.output, error=outcome.error,
                                      cause=outcome.cause, stopped_at=time.time())
        self.records.events.forget(execution)
        with self._lock:
            if self._runs.get(execution, (None,))[0] is interpreter:
                del self._runs[execution]
        self.control.notify()

    def describe_execution(self, workflow: str, name: str) -> dict[str, Any]:
        row = self._execution(workflow, name)
        out = {"executionArn": arn("execution", row["id"]), "stateMachineArn": arn("stateMachine", workflow),
               "name": row["name"], "status": row["status"], "startDate": iso(row["started_at"]),
               "input": json.dumps(row["input"]), "redriveCount": row["redrive_count"]}
        if row["stopped_at"] is not None:
            out["stopDate"] = iso(row["stopped_at"])
        if row["status"] == "SUCCEEDED":
            out["output"] = json.dumps(row["output"])
        if row["error"] is not None:
            out["error"], out["cause"] = row["error"], row["cause"]
        return out

    def _execution(self, workflow: str, name: str) -> dict[str, Any]:
        try:
            return self.records.get_execution(f"{workflow}:{name}")
        except NotFoundError:
            raise NotFoundError(f"workflow {workflow!r} has no execution named {name!r}") from None

    def list_executions(self, workflow: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        self.records.get_state_machine(workflow)
        out = []
        for row in self.records.list_executions(workflow, status, limit):
            item = {"executionArn": arn("execution", row["id"]), "stateMachineArn": arn("stateMachine", workflow),
                    "name": row["name"], "status": row["status"], "startDate": iso(row["started_at"]),
                    "redriveCount": row["redrive_count"]}
            if row["stopped_at"] is not None:
                item["stopDate"] = iso(row["stopped_at"])
            out.append(item)
        return out

    def history(self, workflow: str, name: str, reverse: bool, limit: int | None, after: int) -> dict[str, Any]:
        row = self._execution(workflow, name)
        events = self.records.events.list(row["id"], after=after, limit=limit, reverse=reverse)
        return {"events": [_event(e) for e in events]}

    def stop_execution(self, execution: str, error: str | None = None, cause: str | None = None) -> dict[str, Any]:
        row = self.records.get_execution(execution)
        if row["status"] != "RUNNING":
            raise ConflictError(f"execution {row['name']!r} has ended ({row['status']}); there is nothing to stop")
        with self._lock:
            run = self._runs.get(execution)
        if run is not None:
            run[0].stop(error, cause)
            run[1].join(timeout=30)
        else:  # no thread runs it (it could not be taken up): ended here
            self.records.events.append(execution, [{"type": "ExecutionAborted", "thread": "", "details": {
                "error": error, "cause": cause}}])
            self.records.update_execution(execution, status="ABORTED", error=error, cause=cause,
                                          stopped_at=time.time())
        return {"stopDate": iso(time.time())}

    def stop(self, name: str) -> dict[str, Any]:
        return self.stop_execution(name)

    def redrive(self, workflow: str, name: str) -> dict[str, Any]:
        row = self._execution(workflow, name)
        if row["status"] not in ("FAILED", "ABORTED", "TIMED_OUT"):
            raise ConflictError(f"execution {name!r} is {row['status']}: only a failed, aborted or timed-out "
                                "execution can be redriven")
        execution = row["id"]
        with self._lock:  # its last run has let go of it before a new one starts
            if execution in self._runs:
                raise ConflictError(f"execution {name!r} is still ending; redrive it in a moment")
        # One redrive wins when two race: the status moves to RUNNING only from an ended one.
        if not self.records.claim_execution(execution, ("FAILED", "ABORTED", "TIMED_OUT"), status="RUNNING",
                                            redrive_count=row["redrive_count"] + 1, error=None, cause=None,
                                            output=None, stopped_at=None):
            raise ConflictError(f"execution {name!r} was redriven or changed meanwhile")
        self.records.events.append(execution, [{"type": "ExecutionRedriven", "thread": "", "timestamp": time.time(),
                                                "details": {"redriveCount": row["redrive_count"] + 1}}])
        self._run(self.records.get_execution(execution), self._recorded(execution), redriven_at=time.time())
        return {"redriveDate": iso(time.time())}

    def _recorded(self, execution: str) -> list[dict[str, Any]]:
        return [{"type": e["type"], "thread": e["thread"], "details": e["details"], "timestamp": e["timestamp"]}
                for e in self.records.events.list(execution)]

    # -- the controller -------------------------------------------------------------------------
    def tick(self) -> None:
        """Start the runs schedules have made due (about once a second)."""
        now = time.time()
        if now - self._checked < 1.0:
            return
        self._checked = now
        for row in self.records.list_state_machines():
            sched = row["spec"].get("schedule")
            if not sched:
                continue
            fire = schedules.due(schedules.parse(sched["expression"]), sched.get("last") or sched["since"], now,
                                 sched["since"])
            if fire is None:
                continue
            # Named after its time: a run started before a crash is not started twice.
            name = "scheduled-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(fire))
            try:
                self.start(row["name"], {"name": name, "input": sched.get("input")})
            except ConflictError:
                pass
            except ValidationError as exc:  # it never would start (a definition changed since): skipped
                print(f"mlyard: workflow {row['name']!r}: the scheduled run of {iso(fire)} is skipped: "
                      f"{exc.message}", file=sys.stderr, flush=True)
            except Exception:  # the next tick tries again; the operator sees why
                traceback.print_exc()
                continue
            with self._specs:  # as it is now: an update meanwhile (a schedule changed or removed) stands
                try:
                    current = self.records.get_state_machine(row["name"])["spec"]
                except NotFoundError:
                    continue
                now_sched = current.get("schedule")
                if now_sched and now_sched.get("since") == sched["since"] and \
                        now_sched.get("expression") == sched["expression"]:
                    spec = dict(current, schedule=dict(now_sched, last=fire))
                    self.records.update_state_machine(row["name"], bump=False, spec=spec)

    def resume(self) -> None:
        """After a (re)start: every running execution is replayed from its history and goes on."""
        for row in self.records.list_executions(status="RUNNING", limit=None):
            with self._lock:
                if row["id"] in self._runs:
                    continue
            self._run(row, self._recorded(row["id"]))

    def shutdown(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for interpreter, _ in runs:
            interpreter.detach()
        for _, thread in runs:
            thread.join(timeout=5)


def _event(e: dict[str, Any]) -> dict[str, Any]:
    """An event as Step Functions' GetExecutionHistory gives it."""
    kind = e["type"]
    details = {k: v for k, v in e["details"].items() if k not in ("visit", "at", "until", "attempt")}
    out: dict[str, Any] = {"id": e["id"], "previousEventId": e["previous"], "timestamp": iso(e["timestamp"]),
                           "type": kind}
    if e["thread"]:
        out["flow"] = e["thread"]
    if "resource" in details:  # Step Functions splits a task's resource: sagemaker + createTrainingJob.sync
        arn = str(details.pop("resource"))
        parts = arn.split(":")
        if len(parts) >= 7 and parts[2] == "states":  # arn:aws:states:::<service>:<api>[.sync]
            details["resourceType"], details["resource"] = parts[5], ":".join(parts[6:])
        else:  # a function's ARN
            details["resourceType"], details["resource"] = (parts[2] if len(parts) > 2 else ""), arn
    for ours, theirs in (("timeout", "timeoutInSeconds"), ("heartbeat", "heartbeatInSeconds")):
        if ours in details:
            value = details.pop(ours)
            if value is not None:
                details[theirs] = int(value) if float(value).is_integer() else value
    if details:
        for key in ("input", "output", "parameters"):
            if key in details and not isinstance(details[key], str):
                details[key] = json.dumps(details[key])
        field = kind[0].lower() + kind[1:]
        for suffix in ("Entered", "Exited"):
            if kind.endswith("State" + suffix):
                field = "state" + suffix
        out[field + "EventDetails"] = details
    return out
