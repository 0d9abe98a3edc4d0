"""state_machines, executions, execution_events: workflows and their durable histories

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "state_machines",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("role", sa.Text, nullable=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("modified_at", sa.Float, nullable=False),
    )
    op.create_table(
        "executions",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("state_machine", sa.String(80), nullable=False, index=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("input", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("output", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("cause", sa.Text, nullable=True),
        sa.Column("redrive_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.Float, nullable=False, index=True),
        sa.Column("stopped_at", sa.Float, nullable=True),
        sa.Column("modified_at", sa.Float, nullable=False),
    )
    op.create_table(
        "execution_events",
        sa.Column("execution", sa.String(200), sa.ForeignKey("executions.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("previous", sa.Integer, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("thread", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("execution_events")
    op.drop_table("executions")
    op.drop_table("state_machines")
