"""Alerting: alert occurrences, notification claims and deliveries, silences.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("occurrence", sa.String(100), primary_key=True),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(200)),
        sa.Column("job_name", sa.String(300)),
        sa.Column("job_type", sa.String(200)),
        sa.Column("host", sa.String(300)),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("details", sa.Text),
        sa.Column("silenced", sa.Boolean, nullable=False),
        sa.Column("resolution", sa.Text),
        sa.Column("fired_ns", sa.BigInteger, nullable=False),
        sa.Column("resolved_ns", sa.BigInteger),
        sa.Column("last_notified_ns", sa.BigInteger),
    )
    op.create_index("ix_alerts_state_fired", "alerts", ["state", "fired_ns"])
    op.create_index("ix_alerts_rule_fired", "alerts", ["rule", "fired_ns"])
    op.create_index("ix_alerts_job", "alerts", ["job_id"])

    op.create_table(
        "alert_notifications",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("claim", sa.String(64)),
        sa.Column("alert_key", sa.String(400), nullable=False),
        sa.Column("occurrence", sa.String(100), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("channel_tags", sa.String(1000)),
        sa.Column("masked_url", sa.Text),
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("replica", sa.String(300)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("last_attempt_ns", sa.BigInteger),
        sa.Column("sent_ns", sa.BigInteger),
        sa.UniqueConstraint("claim", name="uq_alert_notifications_claim"),
    )
    op.create_index("ix_alert_notifications_created", "alert_notifications", ["created_ns"])
    op.create_index("ix_alert_notifications_delivery", "alert_notifications", ["delivery_id"])
    op.create_index("ix_alert_notifications_alert", "alert_notifications", ["alert_key", "occurrence"])

    op.create_table(
        "alert_silences",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(200)),
        sa.Column("job_name", sa.String(300)),
        sa.Column("alert_key", sa.String(400)),
        sa.Column("until_ns", sa.BigInteger, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_alert_silences_until", "alert_silences", ["until_ns"])


def downgrade() -> None:
    op.drop_table("alert_silences")
    op.drop_table("alert_notifications")
    op.drop_table("alerts")
