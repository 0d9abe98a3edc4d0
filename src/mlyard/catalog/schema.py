"""The catalog's tables. Changes here need an Alembic revision in ``migrations/versions``."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False, index=True),
    # The tuning job that started this training job, if one did.
    sa.Column("parent", sa.String(63), nullable=True, index=True),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("secondary_status", sa.String(64), nullable=False),
    sa.Column("failure_reason", sa.Text, nullable=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("allocation", sa.JSON, nullable=True),
    sa.Column("job_dir", sa.Text, nullable=False),
    # The executor's handle of the job's runner (opaque JSON); NULL until the runner is started.
    sa.Column("runner", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("metrics_offset", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("ended_at", sa.Float, nullable=True),
    sa.Column("modified_at", sa.Float, nullable=False),
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_name", sa.String(63), sa.ForeignKey("jobs.name", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("secondary_status", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_name", sa.String(63), sa.ForeignKey("jobs.name", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("host", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
)

# Models, endpoint configurations and endpoints: SageMaker-shaped specs by kind and name.
objects = sa.Table(
    "objects",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("modified_at", sa.Float, nullable=False),
)

# Workflows (Step Functions state machines), their executions and each execution's history.
state_machines = sa.Table(
    "state_machines",
    metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("role", sa.Text, nullable=True),
    sa.Column("spec", sa.JSON, nullable=False),  # the rest of the request: type, tags, schedule, ...
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("modified_at", sa.Float, nullable=False),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # <state machine>:<execution name>
    sa.Column("state_machine", sa.String(80), nullable=False, index=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("definition", sa.JSON, nullable=False),  # as it was when the execution started
    sa.Column("input", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("output", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("cause", sa.Text, nullable=True),
    sa.Column("redrive_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", sa.Float, nullable=False, index=True),
    sa.Column("stopped_at", sa.Float, nullable=True),
    sa.Column("modified_at", sa.Float, nullable=False),
)

execution_events = sa.Table(
    "execution_events",
    metadata,
    sa.Column("execution", sa.String(200), sa.ForeignKey("executions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("previous", sa.Integer, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("type", sa.String(48), nullable=False),
    sa.Column("thread", sa.Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
)
