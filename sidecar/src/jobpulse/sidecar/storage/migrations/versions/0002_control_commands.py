"""Control commands: pause, resume and cancel requests, with who asked, when and why.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "control_commands",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("requested_by", sa.String(200)),
        sa.Column("requested_ns", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("resolved_ns", sa.BigInteger),
    )
    op.create_index("ix_control_commands_job", "control_commands", ["job_id", "id"])


def downgrade() -> None:
    op.drop_table("control_commands")
