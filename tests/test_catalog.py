"""The catalog against real databases: SQLite (always) and PostgreSQL (MLYARD_TEST_POSTGRES_URL).

Each PostgreSQL test runs in a fresh, randomly named schema (the connection's search_path points
at it) that is dropped afterwards, so tests neither see nor leave anything behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

import mlyard.catalog
from mlyard.catalog import Catalog
from mlyard.errors import ConflictError, NotFoundError, ValidationError

HEAD = ScriptDirectory(str(Path(mlyard.catalog.__file__).parent / "migrations")).get_current_head()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL, empty."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def bare(backend: str) -> Iterator[Catalog]:
    """A catalog on an empty database, not migrated."""
    cat = Catalog(backend)
    yield cat
    cat.dispose()


@pytest.fixture
def catalog(bare: Catalog) -> Catalog:
    bare.migrate()
    return bare


def job_row(name: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name, "kind": "training", "status": "InProgress", "secondary_status": "Starting",
        "spec": {"hyperparameters": {"epochs": "5", "lr": "0.01"}, "instance_count": 2,
                 "channels": ["train", "test"], "note": "ünïcode ✓", "nested": {"a": [1, 2.5, None, True]}},
        "result": {}, "allocation": {"cpus": 1.0, "memory_mib": 1024, "gpus": 0, "hosts": 2, "gpu_ids": None},
        "job_dir": f"/tmp/mlyard/jobs/{name}",
    }
    row.update(overrides)
    return row


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [r["name"] for r in rows]


def test_migrate_creates_the_schema_at_head(bare: Catalog) -> None:
    assert sa.inspect(bare.engine).get_table_names() == []
    bare.migrate()
    # The migrations create exactly the tables the schema declares.
    assert set(sa.inspect(bare.engine).get_table_names()) == {"alembic_version", *mlyard.catalog.metadata.tables}
    with bare.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    bare.migrate()  # at head already: nothing to do, nothing broken
    with bare.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    columns = {c["name"] for c in sa.inspect(bare.engine).get_columns("jobs")}
    assert {"name", "kind", "status", "spec", "result", "allocation", "metrics_offset", "created_at"} <= columns


def test_migration_to_runner_handles_keeps_every_row(bare: Catalog) -> None:
    """A catalog of the days of runner_pid/runner_started: migrating keeps every job, event and metric,
    and a started runner's pid and start time become its executor handle."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(mlyard.catalog.__file__).parent / "migrations"))
    with bare.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    with bare.engine.begin() as conn:
        for name, pid, started in (("ran", 4242, 1700000000.25), ("queued", None, None)):
            conn.execute(sa.text(
                "INSERT INTO jobs (name, kind, status, secondary_status, spec, result, job_dir, runner_pid, "
                "runner_started, metrics_offset, created_at, modified_at) VALUES (:n, 'training', 'InProgress', "
                "'Training', '{}', '{}', '/j', :pid, :started, 0, 1.0, 1.0)"), {"n": name, "pid": pid,
                                                                               "started": started})
            conn.execute(sa.text("INSERT INTO job_events (job_name, time, status, secondary_status, message) "
                                 "VALUES (:n, 1.0, 'InProgress', 'Pending', 'Created')"), {"n": name})
        conn.execute(sa.text("INSERT INTO metrics (job_name, host, name, value, timestamp) "
                             "VALUES ('ran', 'algo-1', 'loss', 0.5, 2.0)"))
    bare.migrate()
    columns = {c["name"] for c in sa.inspect(bare.engine).get_columns("jobs")}
    assert "runner" in columns and not {"runner_pid", "runner_started"} & columns
    assert bare.get_job("ran")["runner"] == {"pid": 4242, "started": 1700000000.25}
    assert bare.get_job("queued")["runner"] is None
    assert [e["message"] for e in bare.events("ran")] == ["Created"]
    assert bare.final_metrics("ran") == [{"name": "loss", "value": 0.5, "timestamp": 2.0}]
    assert names(bare.list_jobs()) == ["queued", "ran"] or names(bare.list_jobs()) == ["ran", "queued"]


def test_sqlite_catalog_is_in_wal_mode(tmp_path: Path) -> None:
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        cat.migrate()
        with cat.engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert (tmp_path / "catalog.db-wal").exists()
    finally:
        cat.dispose()
    # WAL is a property of the database file: a plain connection sees it too
    plain = sa.create_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        with plain.connect() as conn:
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        plain.dispose()


def test_insert_and_get_round_trip(catalog: Catalog) -> None:
    row = job_row("job-1", created_at=1000.5)
    catalog.insert_job(dict(row), "Created")
    got = catalog.get_job("job-1")
    for key, value in row.items():
        assert got[key] == value, key
    assert got["modified_at"] == 1000.5
    assert got["metrics_offset"] == 0
    assert got["failure_reason"] is None and got["runner"] is None and got["ended_at"] is None
    events = catalog.events("job-1")
    assert [(e["status"], e["secondary_status"], e["message"], e["time"]) for e in events] == [
        ("InProgress", "Starting", "Created", 1000.5)]


def test_insert_defaults_created_at_to_now(catalog: Catalog) -> None:
    before = time.time()
    catalog.insert_job(job_row("job-now", allocation=None), "Created")
    got = catalog.get_job("job-now")
    assert before <= got["created_at"] <= time.time()
    assert got["modified_at"] == got["created_at"]
    assert got["allocation"] is None


def test_duplicate_name_is_a_conflict_and_keeps_the_first_row(catalog: Catalog) -> None:
    first = job_row("dup", created_at=1.0)
    catalog.insert_job(dict(first), "first")
    second = job_row("dup", kind="processing", status="Completed", spec={"other": True}, created_at=2.0)
    with pytest.raises(ConflictError, match="'dup' already exists"):
        catalog.insert_job(dict(second), "second")
    got = catalog.get_job("dup")
    assert (got["kind"], got["status"], got["spec"], got["created_at"]) == (
        "training", "InProgress", first["spec"], 1.0)
    assert [e["message"] for e in catalog.events("dup")] == ["first"]
    assert [j["name"] for j in catalog.list_jobs()] == ["dup"]


def test_update_job_only_if_status(catalog: Catalog) -> None:
    catalog.insert_job(job_row("j"), "Created")
    applied = catalog.update_job("j", event=("Stopping", "Stopping", "stop asked"),
                                 only_if_status=["Completed", "Failed", "Stopped"], status="Stopping",
                                 secondary_status="Stopping")
    assert applied is False
    assert catalog.get_job("j")["status"] == "InProgress"
    assert [e["message"] for e in catalog.events("j")] == ["Created"]

    applied = catalog.update_job("j", event=("Stopping", "Stopping", "stop asked"),
                                 only_if_status=["Pending", "InProgress"], status="Stopping",
                                 secondary_status="Stopping", runner={"pid": 4242, "started": 1.5})
    assert applied is True
    got = catalog.get_job("j")
    assert (got["status"], got["secondary_status"], got["runner"]) == (
        "Stopping", "Stopping", {"pid": 4242, "started": 1.5})
    assert got["modified_at"] >= got["created_at"]
    events = catalog.events("j")
    assert [(e["status"], e["message"]) for e in events] == [("InProgress", "Created"), ("Stopping", "stop asked")]
    assert events[1]["time"] == got["modified_at"]

    # without a condition it always applies; without an event none is recorded
    assert catalog.update_job("j", status="Stopped", ended_at=5.0, result={"model": "file:///m.tar.gz"}) is True
    got = catalog.get_job("j")
    assert (got["status"], got["ended_at"], got["result"]) == ("Stopped", 5.0, {"model": "file:///m.tar.gz"})
    assert len(catalog.events("j")) == 2
    assert catalog.update_job("no-such-job", event=("Failed", "Failed", "x"), status="Failed") is False
    assert catalog.events("no-such-job") == []


def test_list_jobs_filters(catalog: Catalog) -> None:
    jobs = [("train-a", "training", "Completed"), ("train-b", "training", "InProgress"),
            ("proc-a", "processing", "Completed"), ("proc_b", "processing", "Failed"),
            ("procxb", "processing", "InProgress")]
    for i, (name, kind, status) in enumerate(jobs):
        catalog.insert_job(job_row(name, kind=kind, status=status, created_at=100.0 + i), "Created")
    assert names(catalog.list_jobs()) == ["procxb", "proc_b", "proc-a", "train-b", "train-a"]  # newest first
    assert names(catalog.list_jobs(kind="training")) == ["train-b", "train-a"]
    assert names(catalog.list_jobs(statuses=["Completed", "Failed"])) == ["proc_b", "proc-a", "train-a"]
    assert names(catalog.list_jobs(kind="processing", statuses=["InProgress"])) == ["procxb"]
    assert names(catalog.list_jobs(name_contains="-a")) == ["proc-a", "train-a"]
    assert names(catalog.list_jobs(name_contains="_")) == ["proc_b"]  # a literal "_", not a wildcard
    assert names(catalog.list_jobs(name_contains="%")) == []
    assert names(catalog.list_jobs(limit=2)) == ["procxb", "proc_b"]
    assert catalog.list_jobs(kind="tuning") == []
    assert catalog.list_jobs(kind="training")[0]["spec"] == job_row("x")["spec"]


def test_metrics_series_and_final_values(catalog: Catalog) -> None:
    catalog.insert_job(job_row("m"), "Created")
    catalog.insert_job(job_row("other"), "Created")
    catalog.add_metrics("m", [
        {"host": "algo-1", "name": "loss", "value": 3.0, "timestamp": 10.0},
        {"host": "algo-1", "name": "val_loss", "value": 3.5, "timestamp": 10.5},
        {"host": "algo-2", "name": "loss", "value": 1.0, "timestamp": 11.0},
    ], new_offset=120)
    catalog.add_metrics("other", [{"host": "algo-1", "name": "loss", "value": 99.0, "timestamp": 50.0}], 10)
    catalog.add_metrics("m", [{"host": "algo-1", "name": "loss", "value": 2.0, "timestamp": 12.0}], new_offset=160)
    catalog.add_metrics("m", [], new_offset=170)  # nothing new parsed, but the file was read further

    assert catalog.get_job("m")["metrics_offset"] == 170
    assert catalog.get_job("other")["metrics_offset"] == 10
    assert catalog.metrics("m") == [
        {"host": "algo-1", "name": "loss", "value": 3.0, "timestamp": 10.0},
        {"host": "algo-1", "name": "val_loss", "value": 3.5, "timestamp": 10.5},
        {"host": "algo-2", "name": "loss", "value": 1.0, "timestamp": 11.0},
        {"host": "algo-1", "name": "loss", "value": 2.0, "timestamp": 12.0},
    ]
    assert [m["value"] for m in catalog.metrics("m", "loss")] == [3.0, 1.0, 2.0]
    # the last value of each metric: neither the smallest nor the largest
    assert catalog.final_metrics("m") == [{"name": "loss", "value": 2.0, "timestamp": 12.0},
                                          {"name": "val_loss", "value": 3.5, "timestamp": 10.5}]
    assert catalog.final_metrics("other") == [{"name": "loss", "value": 99.0, "timestamp": 50.0}]
    assert catalog.metrics("unknown") == [] and catalog.final_metrics("unknown") == []


def test_get_job_of_an_unknown_name_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError, match="no job named 'ghost'"):
        catalog.get_job("ghost")
    catalog.insert_job(job_row("real"), "Created")
    with pytest.raises(NotFoundError):
        catalog.get_job("rea")


def test_catalog_data_outlives_the_engine(backend: str) -> None:
    first = Catalog(backend)
    first.migrate()
    first.insert_job(job_row("durable", created_at=7.0), "Created")
    first.add_metrics("durable", [{"host": "algo-1", "name": "loss", "value": 0.5, "timestamp": 8.0}], 20)
    first.dispose()
    second = Catalog(backend)
    try:
        second.migrate()
        assert second.get_job("durable")["spec"] == job_row("durable")["spec"]
        assert second.final_metrics("durable") == [{"name": "loss", "value": 0.5, "timestamp": 8.0}]
    finally:
        second.dispose()


def test_unusable_url_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="not usable"):
        Catalog("nosuchdb://x/y")
