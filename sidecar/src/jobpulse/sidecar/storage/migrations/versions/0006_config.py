"""Live configuration: the runtime changes replicas share, and the audit trail of every change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(200)),
    )
    op.create_table(
        "config_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at_ns", sa.BigInteger, nullable=False),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("version", sa.BigInteger),
        sa.Column("replica", sa.String(300)),
        sa.Column("changes", sa.Text),
        sa.Column("errors", sa.Text),
        sa.Column("request", sa.Text),
    )
    op.create_index("ix_config_changes_at", "config_changes", ["at_ns"])


def downgrade() -> None:
    op.drop_table("config_changes")
    op.drop_table("config_state")
