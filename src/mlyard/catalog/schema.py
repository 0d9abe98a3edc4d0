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
