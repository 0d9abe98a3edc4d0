"""``Workflow`` and ``Execution``, as the Step Functions Data Science SDK has them, run by the
mlyard server's workflow engine instead of AWS Step Functions."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from mlyard.errors import ConflictError, ValidationError
from mlyard.stepfunctions.inputs import ExecutionInput
from mlyard.stepfunctions.steps.states import Chain, FrozenGraph, Graph, State

__all__ = ["Workflow", "Execution", "ExecutionStatus"]

logger = logging.getLogger(__name__)


class ExecutionStatus:
    Running = "RUNNING"
    Succeeded = "SUCCEEDED"
    Failed = "FAILED"
    TimedOut = "TIMED_OUT"
    Aborted = "ABORTED"


def _client(client: Any) -> Any:
    """The mlyard client: of a Session given as ``client``, the client itself, or the default."""
    if client is None:
        from mlyard.client import default_client

        return default_client()
    return getattr(client, "client", client)


def _name_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class Workflow:
    def __init__(self, name: str, definition: State | Chain | Graph, role: str | None, tags: list[Any] | None = None,
                 execution_input: ExecutionInput | None = None, timeout_seconds: int | None = None,
                 comment: str | None = None, version: str | None = None, state_machine_arn: str | None = None,
                 format_json: bool = True, client: Any = None) -> None:
        self.name = name
        self.definition = definition if isinstance(definition, Graph) else Graph(
            definition, timeout_seconds=timeout_seconds, comment=comment, version=version)
        self.role = role
        self.tags = tags or []
        self.execution_input = execution_input
        self.format_json = format_json
        self.state_machine_arn = state_machine_arn
        self.client = _client(client)

    # -- the state machine ----------------------------------------------------------------------
    def create(self) -> str:
        """Create the workflow on the server; its ARN. A workflow of that name that exists already
        is left as it is (``update`` changes it): its ARN is returned, as the AWS SDK does."""
        try:
            schema = (json.loads(self.execution_input.get_schema_as_json()) if self.execution_input is not None
                      and self.execution_input.store else None)
            created = self.client.create_workflow({"name": self.name, "definition": self.definition.to_dict(),
                                                   "roleArn": self.role, "tags": self.tags, "inputSchema": schema})
        except ConflictError:
            logger.error("workflow %r exists already: it is left as it is; Workflow.update changes it", self.name)
            created = self.client.describe_workflow(self.name)
        self.state_machine_arn = str(created["stateMachineArn"])
        return self.state_machine_arn

    def update(self, definition: State | Chain | Graph | None = None, role: str | None = None) -> str:
        if definition is None and role is None:
            raise ValidationError("update needs a definition or a role")
        if definition is not None:
            self.definition = definition if isinstance(definition, Graph) else Graph(definition)
        if role is not None:
            self.role = role
        body: dict[str, Any] = {"definition": self.definition.to_dict() if definition is not None else None,
                                "roleArn": role}
        updated = self.client.update_workflow(self.name, body)
        self.state_machine_arn = str(updated["stateMachineArn"])
        return self.state_machine_arn

    def delete(self) -> None:
        self.client.delete_workflow(self.name)

    def schedule(self, expression: str, inputs: Any = None) -> dict[str, Any]:
        """Run the workflow on a schedule: ``rate(1 day)`` or ``cron(0 6 ? * MON-FRI *)``
        (EventBridge's syntax, UTC), each run with ``inputs``. Runs missed while the server was
        down are not made up one by one: one run starts for the latest missed time."""
        described: dict[str, Any] = self.client.update_workflow(
            self.name, {"schedule": {"expression": expression, "input": inputs}})
        return dict(described.get("schedule") or {})

    def unschedule(self) -> None:
        self.client.update_workflow(self.name, {"schedule": None})

    @classmethod
    def attach(cls, state_machine_arn: str, client: Any = None) -> Workflow:
        c = _client(client)
        desc = c.describe_workflow(_name_of(state_machine_arn))
        return cls(desc["name"], FrozenGraph(json.loads(desc["definition"])), desc.get("roleArn"),
                   state_machine_arn=desc["stateMachineArn"], client=c)

    @classmethod
    def list_workflows(cls, max_items: int = 100, client: Any = None, html: bool = False) -> Any:
        rows = _client(client).list_workflows()[:max_items]
        if html:
            from mlyard.workflow.render import workflows_table

            return workflows_table(rows)
        return rows

    # -- executions -----------------------------------------------------------------------------
    def execute(self, name: str | None = None, inputs: Any = None) -> Execution:
        if self.execution_input is not None:
            result = self.execution_input.validate(inputs or {})
            if not result.valid:
                raise ValueError(f"the execution input does not match the workflow's ExecutionInput schema: "
                                 f"missing {result.keys_missing}, of another type "
                                 f"{[(k, v, t.__name__) for k, v, t in result.keys_type_mismatch]}")
        if self.state_machine_arn is None:
            raise ValidationError(f"workflow {self.name!r} has not been created: call create() first")
        started = self.client.start_execution(self.name, {"name": name, "input": inputs})
        return Execution(self, started["executionArn"], started["startDate"], ExecutionStatus.Running)

    def list_executions(self, max_items: int = 100, status_filter: str | None = None, html: bool = False) -> Any:
        rows = self.client.list_executions(self.name, status_filter, max_items)
        executions = [Execution(self, r["executionArn"], r["startDate"], r["status"], name=r["name"],
                                stop_date=r.get("stopDate")) for r in rows]
        if html:
            from mlyard.workflow.render import executions_table

            return executions_table(rows)
        return executions

    def render_graph(self, portrait: bool = False) -> Any:
        """The workflow's graph: self-contained SVG, shown inline in Jupyter (``save(path)`` writes it)."""
        from mlyard.workflow.render import graph_svg

        return graph_svg(self.definition.to_dict(), portrait=portrait)

    def get_cloudformation_template(self, description: str | None = None) -> str:
        """A CloudFormation template (YAML) of the workflow, as the AWS SDK writes it."""
        definition = json.dumps(self.definition.to_dict(), indent=2).replace("\n", "\n          ")
        return ("AWSTemplateFormatVersion: '2010-09-09'\n"
                f"Description: {json.dumps(description or 'CloudFormation template for AWS Step Functions')}\n"
                "Resources:\n  StateMachineComponent:\n    Type: AWS::StepFunctions::StateMachine\n"
                f"    Properties:\n      StateMachineName: {self.name}\n"
                f"      DefinitionString: |-\n          {definition}\n"
                f"      RoleArn: {json.dumps(self.role)}\n")

    def __repr__(self) -> str:
        return f"Workflow(name={self.name!r}, role={self.role!r}, state_machine_arn={self.state_machine_arn!r})"


class Execution:
    def __init__(self, workflow: Workflow, execution_arn: str, start_date: Any, status: str, client: Any = None,
                 name: str | None = None, stop_date: Any = None) -> None:
        self.workflow = workflow
        self.execution_arn = execution_arn
        self.start_date = start_date
        self.status = status
        self.name = name or execution_arn.rsplit(":", 1)[-1]
        self.stop_date = stop_date
        self.client = _client(client) if client is not None else workflow.client

    def describe(self) -> dict[str, Any]:
        desc: dict[str, Any] = self.client.describe_execution(self.workflow.name, self.name)
        self.status = desc["status"]
        return desc

    def stop(self, cause: str | None = None, error: str | None = None) -> dict[str, Any]:
        stopped: dict[str, Any] = self.client.stop_execution(self.workflow.name, self.name, error, cause)
        return stopped

    def get_input(self) -> Any:
        return json.loads(self.describe()["input"])

    def get_output(self, wait: bool = False) -> Any:
        """The execution's output (None until it has succeeded); with ``wait``, once it has ended."""
        desc = self.describe()
        while wait and desc["status"] == ExecutionStatus.Running:
            desc = self.client.wait_execution(self.workflow.name, self.name, 20.0)
            self.status = desc["status"]
        return json.loads(desc["output"]) if desc.get("output") is not None else None

    def list_events(self, max_items: int = 100, reverse_order: bool = False, html: bool = False) -> Any:
        events = self.client.execution_history(self.workflow.name, self.name, reverse_order, max_items)["events"]
        if html:
            from mlyard.workflow.render import events_table

            return events_table(events)
        return events

    def render_progress(self, portrait: bool = False, max_events: int = 25000) -> Any:
        """The workflow's graph with each state in its colour: succeeded, failed, caught, running
        (self-contained SVG; the state that failed shows in red, durations under the names)."""
        from mlyard.workflow.render import graph_svg, progress_statuses

        definition = json.loads(self.client.describe_workflow(self.workflow.name)["definition"])
        events = self.client.execution_history(self.workflow.name, self.name, False, max_events)["events"]
        return graph_svg(definition, progress_statuses(events), portrait=portrait)

    def redrive(self) -> dict[str, Any]:
        redriven: dict[str, Any] = self.client.redrive_execution(self.workflow.name, self.name)
        return redriven

    def wait(self, poll: float = 0.0) -> dict[str, Any]:
        while True:
            desc = self.client.wait_execution(self.workflow.name, self.name, 20.0)
            if desc["status"] != ExecutionStatus.Running:
                self.status = desc["status"]
                return dict(desc)
            if poll:
                time.sleep(poll)

    def __repr__(self) -> str:
        return f"Execution(name={self.name!r}, status={self.status!r})"
