"""Schedules learned from jobs' start records.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-15
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learned_schedules",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("cron", sa.String(200)),
        sa.Column("every_s", sa.Float),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("grace_s", sa.Float, nullable=False),
        sa.Column("since_ns", sa.BigInteger, nullable=False),
        sa.Column("job_id", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("learned_schedules")
