"""Schedules of workflows: EventBridge's rate and cron expressions, the rule for runs missed while
the server was down, and a scheduled run started by the server."""

from __future__ import annotations

import calendar
import time

import pytest
from conftest import wait_for

from mlyard.errors import ValidationError
from mlyard.stepfunctions import steps
from mlyard.stepfunctions.workflow import Workflow
from mlyard.workflow.schedules import ScheduleError, due, parse


def utc(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M")))


def test_cron_expressions_fire_when_eventbridge_says() -> None:
    weekdays = parse("cron(0/15 9-17 ? * MON-FRI *)")
    assert weekdays.next_after(utc("2026-12-05 12:00"), 0) == utc("2026-12-07 09:00")  # Saturday -> Monday 9:00
    assert weekdays.next_after(utc("2026-12-07 09:00"), 0) == utc("2026-12-07 09:15")
    first_of_month = parse("cron(30 6 1 * ? *)")
    assert first_of_month.fire_times(utc("2026-01-15 00:00"), utc("2026-04-15 00:00"), 0) == [
        utc("2026-02-01 06:30"), utc("2026-03-01 06:30"), utc("2026-04-01 06:30")]
    assert parse("cron(0 12 1 JAN ? 2030)").next_after(utc("2026-12-02 00:00"), 0) == utc("2030-01-01 12:00")


@pytest.mark.parametrize("expression, message", [
    ("rate(0 minutes)", "from 1 minute to 366 days"),
    ("rate(10000000 days)", "from 1 minute to 366 days"),
    ("cron(0/² * ? * * *)", "bad step"),
    ("rate(5 minute)", r"rate\(N minutes\)"),
    ("rate(1 week)", "not a schedule expression"),
    ("cron(0 12 * * *)", "6 fields"),
    ("cron(0 12 * * MON *)", "one of day-of-month and day-of-week must be '?'"),
    ("cron(61 12 ? * * *)", "outside 0-59"),
    ("cron(0 12 ? FOO * *)", "not a number or one of JAN"),
])
def test_bad_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse(expression)


def test_runs_missed_while_down_start_once_for_the_latest_missed_time() -> None:
    hourly = parse("rate(1 hour)")
    anchor = utc("2026-12-01 00:00")
    # the server was down from 03:30 to 07:10: the 04:00 ... 07:00 runs were missed; one runs, for 07:00
    assert due(hourly, utc("2026-12-01 03:00"), utc("2026-12-01 07:10"), anchor) == utc("2026-12-01 07:00")
    assert due(hourly, utc("2026-12-01 07:00"), utc("2026-12-01 07:30"), anchor) is None  # nothing new yet
    daily = parse("cron(0 6 * * ? *)")
    assert due(daily, utc("2026-11-20 06:00"), utc("2026-12-02 05:00"), 0) == utc("2026-12-01 06:00")


def test_the_server_starts_a_scheduled_run(session) -> None:
    flow = Workflow("scheduled", steps.Pass("Echo"), role="role", client=session)
    flow.create()
    with pytest.raises(ValidationError, match="not a schedule expression"):
        flow.schedule("every day")
    shown = flow.schedule("cron(* * * * ? *)", inputs={"from": "the schedule"})  # every minute
    assert shown["expression"] == "cron(* * * * ? *)" and shown["nextRun"]
    run = wait_for(lambda: (e := flow.list_executions()) and e[0], timeout=75)
    assert run.name.startswith("scheduled-") and run.name.endswith("Z")
    assert run.get_output(wait=True) == {"from": "the schedule"}
    described = session.client.describe_workflow("scheduled")
    assert described["schedule"]["lastRun"] is not None
    flow.unschedule()
    assert "schedule" not in session.client.describe_workflow("scheduled")


def test_a_schedule_whose_input_the_workflow_would_refuse_is_refused(session) -> None:
    from mlyard.stepfunctions.inputs import ExecutionInput

    flow = Workflow("typed", steps.Pass("Echo"), role="role", client=session,
                    execution_input=ExecutionInput(schema={"Job": str}))
    flow.create()
    with pytest.raises(ValidationError, match="the schedule's input: .*missing Job"):
        flow.schedule("rate(1 day)", inputs={"Other": 1})
    assert "schedule" not in session.client.describe_workflow("typed")
    assert flow.schedule("rate(1 day)", inputs={"Job": "nightly"})["expression"] == "rate(1 day)"
