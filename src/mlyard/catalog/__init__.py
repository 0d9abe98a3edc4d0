"""The catalog: every job, its status history and its metric series, in SQL.

SQLite (WAL mode) by default; PostgreSQL when ``MLYARD_DATABASE_URL`` says so. Only the control
plane writes here: job runners report through files in the job directory, which the server
ingests (see mlyard.server.control).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlyard.catalog.schema import job_events, jobs, metadata, metrics, objects
from mlyard.errors import ConflictError, NotFoundError, ValidationError

__all__ = ["Catalog", "Objects", "metadata"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def _normalize_url(url: str) -> str:
    # "postgresql://" means psycopg 3 here, the driver the postgres extra installs.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Catalog:
    def __init__(self, url: str) -> None:
        self.url = _normalize_url(url)
        try:
            if self.url.startswith("sqlite"):
                self.engine: Engine = sa.create_engine(
                    self.url, connect_args={"check_same_thread": False, "timeout": 30})
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = sa.create_engine(self.url, pool_pre_ping=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise ValidationError(
                f"MLYARD_DATABASE_URL {url!r} is not usable: {exc}. Use sqlite:///path or "
                "postgresql://user:password@host/db (install mlyard[postgres])."
            ) from exc

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()

    # -- jobs ---------------------------------------------------------------------------------
    def insert_job(self, row: dict[str, Any], event_message: str) -> None:
        now = row.setdefault("created_at", time.time())
        row.setdefault("modified_at", now)
        try:
            with self.engine.begin() as conn:
                conn.execute(jobs.insert().values(**row))
                conn.execute(job_events.insert().values(
                    job_name=row["name"], time=now, status=row["status"],
                    secondary_status=row["secondary_status"], message=event_message))
        except sa.exc.IntegrityError as exc:
            raise ConflictError(
                f"a job named {row['name']!r} already exists; choose another job_name "
                "(or leave it out to get a unique one)") from exc

    def get_job(self, name: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.name == name)).mappings().first()
        if row is None:
            raise NotFoundError(f"no job named {name!r}; `mlyard jobs list` shows the jobs there are")
        return dict(row)

    def list_jobs(self, kind: str | None = None, statuses: list[str] | None = None,
                  limit: int | None = 100, name_contains: str | None = None,
                  parent: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(jobs).order_by(jobs.c.created_at.desc())
        if parent:
            q = q.where(jobs.c.parent == parent)
        if kind:
            q = q.where(jobs.c.kind == kind)
        if statuses:
            q = q.where(jobs.c.status.in_(statuses))
        if name_contains:
            q = q.where(jobs.c.name.contains(name_contains, autoescape=True))
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def update_job(self, name: str, event: tuple[str, str, str] | None = None,
                   only_if_status: list[str] | None = None, only_if: dict[str, Any] | None = None,
                   events: list[tuple[str, str, str]] | None = None, **fields: Any) -> bool:
        """Update a job's fields and record status events (status, secondary, message), in one
        transaction. The update applies only while the job is in one of ``only_if_status`` and its
        columns equal ``only_if`` (None: IS NULL); returns whether it applied."""
        now = time.time()
        fields["modified_at"] = now
        q = jobs.update().where(jobs.c.name == name)
        if only_if_status:
            q = q.where(jobs.c.status.in_(only_if_status))
        for column, value in (only_if or {}).items():
            q = q.where(jobs.c[column].is_(None) if value is None else jobs.c[column] == value)
        todo = [*(events or []), *([event] if event else [])]
        with self.engine.begin() as conn:
            applied = conn.execute(q.values(**fields)).rowcount > 0
            if applied and todo:
                conn.execute(job_events.insert(), [
                    {"job_name": name, "time": now, "status": st, "secondary_status": sec, "message": msg}
                    for st, sec, msg in todo])
        return applied

    def events(self, name: str) -> list[dict[str, Any]]:
        q = sa.select(job_events).where(job_events.c.job_name == name).order_by(job_events.c.id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # -- metrics ------------------------------------------------------------------------------
    def add_metrics(self, name: str, rows: list[dict[str, Any]], new_offset: int) -> None:
        with self.engine.begin() as conn:
            if rows:
                conn.execute(metrics.insert(), [dict(r, job_name=name) for r in rows])
            conn.execute(jobs.update().where(jobs.c.name == name).values(metrics_offset=new_offset))

    def metrics(self, name: str, metric_name: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(metrics.c.host, metrics.c.name, metrics.c.value, metrics.c.timestamp).where(
            metrics.c.job_name == name)
        if metric_name:
            q = q.where(metrics.c.name == metric_name)
        q = q.order_by(metrics.c.id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def final_values(self, names: list[str], metric_name: str) -> dict[str, float]:
        """The last value of one metric for each of several jobs, in one query."""
        if not names:
            return {}
        last = (sa.select(sa.func.max(metrics.c.id))
                .where(metrics.c.job_name.in_(names), metrics.c.name == metric_name)
                .group_by(metrics.c.job_name).scalar_subquery())
        q = sa.select(metrics.c.job_name, metrics.c.value).where(metrics.c.id.in_(last))
        with self.engine.connect() as conn:
            return {r.job_name: r.value for r in conn.execute(q)}

    def final_metrics(self, name: str) -> list[dict[str, Any]]:
        """The last value of each metric (SageMaker's FinalMetricDataList)."""
        last = (sa.select(sa.func.max(metrics.c.id)).where(metrics.c.job_name == name)
                .group_by(metrics.c.name).scalar_subquery())
        q = (sa.select(metrics.c.name, metrics.c.value, metrics.c.timestamp)
             .where(metrics.c.id.in_(last)).order_by(metrics.c.name))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Objects:
    """Models, endpoint configurations and endpoints: (kind, name) -> spec and state."""

    def __init__(self, catalog: Catalog) -> None:
        self.engine = catalog.engine

    def insert(self, kind: str, name: str, spec: dict[str, Any], state: dict[str, Any] | None = None,
               what: str | None = None) -> None:
        now = time.time()
        try:
            with self.engine.begin() as conn:
                conn.execute(objects.insert().values(kind=kind, name=name, spec=spec, state=state or {},
                                                     created_at=now, modified_at=now))
        except sa.exc.IntegrityError as exc:
            raise ConflictError(f"{what or kind} {name!r} already exists; choose another name, or delete it "
                                "first") from exc

    def get(self, kind: str, name: str, what: str | None = None) -> dict[str, Any]:
        q = sa.select(objects).where(objects.c.kind == kind, objects.c.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        if row is None:
            raise NotFoundError(f"no {what or kind} named {name!r}")
        return dict(row)

    def update(self, kind: str, name: str, **fields: Any) -> None:
        fields["modified_at"] = time.time()
        with self.engine.begin() as conn:
            conn.execute(objects.update().where(objects.c.kind == kind, objects.c.name == name).values(**fields))

    def delete(self, kind: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(objects.delete().where(objects.c.kind == kind, objects.c.name == name))

    def list(self, kind: str) -> list[dict[str, Any]]:
        q = sa.select(objects).where(objects.c.kind == kind).order_by(objects.c.created_at.desc())
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]
