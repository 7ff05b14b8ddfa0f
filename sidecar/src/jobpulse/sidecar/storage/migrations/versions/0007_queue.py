"""Queue wait: how long a queued job waited before it started, kept with its history row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("wait_s", sa.Float))


def downgrade() -> None:
    op.drop_column("jobs", "wait_s")
