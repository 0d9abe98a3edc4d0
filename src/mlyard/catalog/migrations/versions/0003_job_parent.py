"""jobs.parent: the tuning job a training job belongs to

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# A plain ADD COLUMN: SQLite's batch mode would copy and drop the jobs table, and dropping it would
# cascade-delete every job's events and metrics.
def upgrade() -> None:
    op.add_column("jobs", sa.Column("parent", sa.String(63), nullable=True))
    op.create_index("ix_jobs_parent", "jobs", ["parent"])


def downgrade() -> None:
    op.drop_index("ix_jobs_parent", "jobs")
    op.drop_column("jobs", "parent")
