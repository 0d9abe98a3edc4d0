"""Workflows in the catalog (SQLite always, PostgreSQL with MLYARD_TEST_POSTGRES_URL): state
machines, executions, and the event log that many flows append to at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlyard.catalog import Catalog
from mlyard.catalog.workflows import Workflows
from mlyard.errors import ConflictError, NotFoundError

DEFINITION = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    url = f"sqlite:///{tmp_path / 'catalog.db'}" if request.param == "sqlite" else str(
        request.getfixturevalue("postgres_url"))
    cat = Catalog(url)
    cat.migrate()
    yield cat
    cat.dispose()


def test_state_machines_are_created_updated_listed_and_deleted(catalog: Catalog) -> None:
    wf = Workflows(catalog)
    wf.insert_state_machine("train-deploy", DEFINITION, "role", {"type": "STANDARD"})
    with pytest.raises(ConflictError, match="already exists"):
        wf.insert_state_machine("train-deploy", DEFINITION, None, {})
    wf.update_state_machine("train-deploy", definition={**DEFINITION, "Comment": "v2"})
    row = wf.get_state_machine("train-deploy")
    assert row["revision"] == 2 and row["definition"]["Comment"] == "v2" and row["spec"] == {"type": "STANDARD"}
    assert [r["name"] for r in wf.list_state_machines()] == ["train-deploy"]
    with pytest.raises(NotFoundError, match="no workflow named 'other'"):
        wf.update_state_machine("other", role="x")
    wf.delete_state_machine("train-deploy")
    with pytest.raises(NotFoundError):
        wf.get_state_machine("train-deploy")


def test_executions_are_unique_per_workflow_and_keep_their_result(catalog: Catalog) -> None:
    wf = Workflows(catalog)
    row = {"id": "sm:e1", "state_machine": "sm", "name": "e1", "status": "RUNNING", "definition": DEFINITION,
           "input": {"x": [1, None]}}
    wf.insert_execution(row)
    with pytest.raises(ConflictError, match="execution names are unique"):
        wf.insert_execution(row)
    wf.insert_execution({**row, "id": "sm:e2", "name": "e2", "input": None})
    wf.update_execution("sm:e1", status="SUCCEEDED", output={"y": 1}, stopped_at=1.0)
    got = wf.get_execution("sm:e1")
    assert got["status"] == "SUCCEEDED" and got["output"] == {"y": 1} and got["input"] == {"x": [1, None]}
    assert wf.get_execution("sm:e2")["input"] is None
    assert [r["name"] for r in wf.list_executions("sm", status="RUNNING")] == ["e2"]
    wf.events.append("sm:e1", [{"type": "ExecutionStarted", "details": {}}])
    wf.delete_executions("sm")
    assert wf.list_executions("sm") == [] and wf.events.list("sm:e1") == []


def test_the_event_log_numbers_each_executions_events_without_gaps_under_concurrent_appends(catalog: Catalog) -> None:
    wf = Workflows(catalog)
    for name in ("a", "b"):
        wf.insert_execution({"id": f"sm:{name}", "state_machine": "sm", "name": name, "status": "RUNNING",
                             "definition": DEFINITION})
    got: dict[str, list[int]] = {"sm:a": [], "sm:b": []}
    lock = threading.Lock()

    def flow(execution: str, n: int) -> None:
        for i in range(25):
            ids = wf.events.append(execution, [{"type": "PassStateEntered", "thread": f"/M#1/{n}",
                                                "details": {"i": i, "n": n}}])
            with lock:
                got[execution] += ids

    threads = [threading.Thread(target=flow, args=(e, n)) for e in got for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for execution, ids in got.items():
        assert sorted(ids) == list(range(1, 151))
        stored = wf.events.list(execution)
        assert [e["id"] for e in stored] == list(range(1, 151))
        # each flow's own events are in the order it appended them
        for n in range(6):
            assert [e["details"]["i"] for e in stored if e["details"]["n"] == n] == list(range(25))
    assert [e["id"] for e in wf.events.list("sm:a", after=140, reverse=True, limit=3)] == [150, 149, 148]
    # a new log (a restarted server) goes on from the last id
    again = Workflows(catalog)
    assert again.events.append("sm:a", [{"type": "ExecutionSucceeded", "details": {"output": None}}]) == [151]
