"""jobs.runner: the executor's opaque handle of a job's runner, instead of runner_pid/runner_started

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN (SQLite >= 3.35 drops columns in place): SQLite's batch mode would copy and
# drop the jobs table, and dropping it would cascade-delete every job's events and metrics.
_jobs = sa.table("jobs", sa.column("name", sa.String), sa.column("runner", sa.JSON(none_as_null=True)),
                 sa.column("runner_pid", sa.Integer), sa.column("runner_started", sa.Float))


def upgrade() -> None:
    op.add_column("jobs", sa.Column("runner", sa.JSON(none_as_null=True), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(_jobs.c.name, _jobs.c.runner_pid, _jobs.c.runner_started)
                        .where(_jobs.c.runner_pid.is_not(None))).fetchall()
    for name, pid, started in rows:
        # Rows from before executors were chosen ran on the local executor, whose handle this is.
        conn.execute(_jobs.update().where(_jobs.c.name == name)
                     .values(runner={"pid": int(pid), "started": float(started or 0.0)}))
    op.drop_column("jobs", "runner_pid")
    op.drop_column("jobs", "runner_started")


def downgrade() -> None:
    op.add_column("jobs", sa.Column("runner_pid", sa.Integer, nullable=True))
    op.add_column("jobs", sa.Column("runner_started", sa.Float, nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(_jobs.c.name, _jobs.c.runner).where(_jobs.c.runner.is_not(None))).fetchall()
    for name, handle in rows:
        if isinstance(handle, dict) and "pid" in handle:  # a local runner's; others have no pid to keep
            conn.execute(_jobs.update().where(_jobs.c.name == name).values(
                runner_pid=int(handle["pid"]), runner_started=float(handle.get("started") or 0.0)))
    op.drop_column("jobs", "runner")
