"""Workflows in the catalog: state machines, their executions, and each execution's history.

An execution's events are its durable record (``workflow/interpreter.py`` replays them after a
restart). ``EventLog`` writes them with group commit: the events that many flows of many
executions append at the same moment go to the database in one transaction, and each ``append``
returns once its events are committed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa

from mlyard.catalog import Catalog
from mlyard.catalog.schema import execution_events, executions, state_machines
from mlyard.errors import ConflictError, NotFoundError

__all__ = ["Workflows", "EventLog"]


class Workflows:
    def __init__(self, catalog: Catalog) -> None:
        self.engine = catalog.engine
        self.events = EventLog(catalog)

    # -- state machines -------------------------------------------------------------------------
    def insert_state_machine(self, name: str, definition: dict[str, Any], role: str | None,
                             spec: dict[str, Any]) -> None:
        now = time.time()
        self._insert(state_machines, dict(name=name, definition=definition, role=role, spec=spec, revision=1,
                                          created_at=now, modified_at=now),
                     f"a workflow named {name!r} already exists; update it (Workflow.update), or choose another name")

    def get_state_machine(self, name: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(state_machines).where(state_machines.c.name == name)).mappings().first()
        if row is None:
            raise NotFoundError(f"no workflow named {name!r}")
        return dict(row)

    def update_state_machine(self, name: str, bump: bool = True, **fields: Any) -> None:
        """Change a state machine; a new revision unless ``bump`` is False (a schedule's record)."""
        if bump:
            fields["modified_at"] = time.time()
            fields["revision"] = state_machines.c.revision + 1
        with self.engine.begin() as conn:
            done = conn.execute(state_machines.update().where(state_machines.c.name == name).values(**fields))
        if done.rowcount == 0:
            raise NotFoundError(f"no workflow named {name!r}")

    def delete_state_machine(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(state_machines.delete().where(state_machines.c.name == name))

    def list_state_machines(self) -> list[dict[str, Any]]:
        q = sa.select(state_machines).order_by(state_machines.c.created_at.desc())
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # -- executions ---------------------------------------------------------------------------
    def insert_execution(self, row: dict[str, Any]) -> None:
        now = time.time()
        row = {"started_at": now, "modified_at": now, "redrive_count": 0, **row}
        self._insert(executions, row, f"an execution named {row['name']!r} of workflow {row['state_machine']!r} "
                                      "exists already; execution names are unique per workflow")

    def _insert(self, table: sa.Table, row: dict[str, Any], conflict: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(table.insert().values(**row))
        except sa.exc.IntegrityError as exc:
            raise ConflictError(conflict) from exc

    def get_execution(self, execution_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(executions).where(executions.c.id == execution_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no execution {execution_id!r}")
        return dict(row)

    def update_execution(self, execution_id: str, **fields: Any) -> None:
        fields["modified_at"] = time.time()
        with self.engine.begin() as conn:
            conn.execute(executions.update().where(executions.c.id == execution_id).values(**fields))

    def claim_execution(self, execution_id: str, statuses: tuple[str, ...], **fields: Any) -> bool:
        """Change an execution only if its status is one of ``statuses``; whether it was."""
        fields["modified_at"] = time.time()
        with self.engine.begin() as conn:
            done = conn.execute(executions.update().where(executions.c.id == execution_id,
                                                          executions.c.status.in_(statuses)).values(**fields))
        return bool(done.rowcount)

    def list_executions(self, state_machine: str | None = None, status: str | None = None,
                        limit: int | None = 100) -> list[dict[str, Any]]:
        q = sa.select(executions).order_by(executions.c.started_at.desc())
        if state_machine is not None:
            q = q.where(executions.c.state_machine == state_machine)
        if status is not None:
            q = q.where(executions.c.status == status)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def delete_executions(self, state_machine: str) -> None:
        ids = sa.select(executions.c.id).where(executions.c.state_machine == state_machine)
        with self.engine.begin() as conn:
            conn.execute(execution_events.delete().where(execution_events.c.execution.in_(ids)))
            conn.execute(executions.delete().where(executions.c.state_machine == state_machine))


class EventLog:
    """The events of every execution, appended with group commit."""

    def __init__(self, catalog: Catalog) -> None:
        self.engine = catalog.engine
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}          # execution -> its next event id
        self._pending: list[dict[str, Any]] = []  # rows waiting for the next commit
        self._committing = False
        self._done = threading.Condition(self._lock)
        self._batch = 0                           # the number of the batch being gathered
        self._committed = -1                      # the last batch that is durable
        self._failed: dict[int, BaseException] = {}

    def append(self, execution: str, events: list[dict[str, Any]]) -> list[int]:
        """Write ``events`` (type, thread, previous, timestamp, details) of ``execution`` and return
        their ids, once they are committed."""
        with self._lock:
            if execution not in self._next:
                self._next[execution] = self._last_id(execution) + 1
            ids = []
            for e in events:
                event_id = self._next[execution]
                self._next[execution] = event_id + 1
                ids.append(event_id)
                self._pending.append({"execution": execution, "id": event_id,
                                      "previous": int(e.get("previous") or 0),
                                      "timestamp": float(e.get("timestamp") or time.time()),
                                      "type": e["type"], "thread": e.get("thread", ""),
                                      "details": e.get("details") or {}})
            mine = self._batch
            while self._committed < mine:
                if not self._committing:  # this caller writes the batch (its own and what others added)
                    self._committing = True
                    rows, self._pending = self._pending, []
                    batch, self._batch = self._batch, self._batch + 1
                    self._lock.release()
                    error: BaseException | None = None
                    try:
                        with self.engine.begin() as conn:
                            conn.execute(execution_events.insert(), rows)
                    except BaseException as exc:  # handed to every caller of the batch
                        error = exc
                    finally:
                        self._lock.acquire()
                    if error is not None:
                        self._failed[batch] = error
                        for row in rows:  # ids not written may be used again
                            self._next.pop(row["execution"], None)
                    self._committed = batch
                    self._committing = False
                    self._done.notify_all()
                else:
                    self._done.wait()
            error = self._failed.get(mine)
            for old in [b for b in self._failed if b < self._committed - 1000]:
                del self._failed[old]
        if error is not None:
            raise error
        return ids

    def _last_id(self, execution: str) -> int:
        q = sa.select(sa.func.max(execution_events.c.id)).where(execution_events.c.execution == execution)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def list(self, execution: str, after: int = 0, limit: int | None = None, reverse: bool = False
             ) -> list[dict[str, Any]]:
        q = sa.select(execution_events).where(execution_events.c.execution == execution)
        if after:
            q = q.where(execution_events.c.id > after)
        q = q.order_by(execution_events.c.id.desc() if reverse else execution_events.c.id)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def forget(self, execution: str) -> None:
        """The execution has ended: its next id is read from the database if it runs again."""
        with self._lock:
            self._next.pop(execution, None)
