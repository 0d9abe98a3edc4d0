"""jobs, their events and metric series

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("status", sa.String(32), nullable=False, index=True),
        sa.Column("secondary_status", sa.String(64), nullable=False),
        sa.Column("failure_reason", sa.Text, nullable=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("allocation", sa.JSON, nullable=True),
        sa.Column("job_dir", sa.Text, nullable=False),
        sa.Column("runner_pid", sa.Integer, nullable=True),
        sa.Column("runner_started", sa.Float, nullable=True),
        sa.Column("metrics_offset", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False, index=True),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("ended_at", sa.Float, nullable=True),
        sa.Column("modified_at", sa.Float, nullable=False),
    )
    op.create_table(
        "job_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_name", sa.String(63), sa.ForeignKey("jobs.name", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("secondary_status", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_name", sa.String(63), sa.ForeignKey("jobs.name", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("host", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("metrics")
    op.drop_table("job_events")
    op.drop_table("jobs")
