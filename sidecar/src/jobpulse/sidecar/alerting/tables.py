"""Alerting's tables: alerts, their notifications (claims and delivery records), each delivery
attempt, and silences."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from jobpulse.sidecar.storage.schema import metadata

# One row per occurrence of an alert: the dedupe key (rule + job or host) and an occurrence id that
# every replica derives alike from the same events.
alerts = Table(
    "alerts",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("occurrence", String(100), primary_key=True),
    Column("rule", String(200), nullable=False),
    Column("source", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("job_id", String(200)),
    Column("job_name", String(300)),
    Column("job_type", String(200)),
    Column("host", String(300)),
    Column("summary", Text, nullable=False),
    Column("description", Text),
    Column("details", Text),
    Column("silenced", Boolean, nullable=False, default=False),
    Column("resolution", Text),
    Column("fired_ns", BigInteger, nullable=False),
    Column("resolved_ns", BigInteger),
    Column("last_notified_ns", BigInteger),
    Index("ix_alerts_state_fired", "state", "fired_ns"),
    Index("ix_alerts_rule_fired", "rule", "fired_ns"),
    Index("ix_alerts_job", "job_id"),
)

# One row per (alert occurrence, event, channel). ``claim`` is unique: a replica sends only what its
# INSERT claimed. Dropped notifications (queue full) have no claim, so they never block a send.
alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("claim", String(64)),
    Column("alert_key", String(400), nullable=False),
    Column("occurrence", String(100), nullable=False),
    Column("event", String(32), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("channel_tags", String(1000)),
    Column("masked_url", Text),
    Column("delivery_id", String(32), nullable=False),
    Column("replica", String(300)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("result", String(16), nullable=False),
    Column("error", Text),
    Column("created_ns", BigInteger, nullable=False),
    Column("last_attempt_ns", BigInteger),
    Column("sent_ns", BigInteger),
    UniqueConstraint("claim", name="uq_alert_notifications_claim"),
    Index("ix_alert_notifications_created", "created_ns"),
    Index("ix_alert_notifications_delivery", "delivery_id"),
    Index("ix_alert_notifications_alert", "alert_key", "occurrence"),
)

# One row per attempt to send a notification; the notification's own row keeps the summary (attempts
# so far, result, last error). A message carrying several notifications is one attempt of each.
# ``duration_s`` is measured on the monotonic clock: a wall-clock step does not bend it.
alert_notification_attempts = Table(
    "alert_notification_attempts",
    metadata,
    Column(
        "notification_id",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("alert_notifications.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("attempt", Integer, primary_key=True),
    Column("started_ns", BigInteger, nullable=False),
    Column("finished_ns", BigInteger, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", Text),
)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("rule", String(200)),
    Column("job_name", String(300)),
    Column("alert_key", String(400)),
    Column("until_ns", BigInteger, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("created_by", String(200)),
    Column("reason", Text),
    Index("ix_alert_silences_until", "until_ns"),
)
