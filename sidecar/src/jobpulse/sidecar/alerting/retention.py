"""Alerting's share of retention: resolved alerts, their delivery records (with each one's attempts)
and lapsed silences expire.

They go with the jobs of their time (``retention_days``); ``expire_alerts`` is registered with the
storage sweep (``storage.retention``).
"""

from __future__ import annotations

from sqlalchemy import and_, select

from jobpulse.sidecar.alerting.model import RESOLVED
from jobpulse.sidecar.alerting.tables import alert_notification_attempts, alert_notifications, alert_silences, alerts
from jobpulse.sidecar.storage.policy import RetentionPolicy
from jobpulse.sidecar.storage.retention import ReportRow, RetentionCounts, Sweep


class AlertCounts(RetentionCounts):
    """Resolved alerts and delivery records that expired."""

    alerts_expired: int = 0
    notifications_expired: int = 0

    def rows(self, policy: RetentionPolicy) -> list[ReportRow]:
        return [
            (
                f"alerts resolved over {policy.job_days:g} days ago",
                f"{self.alerts_expired:,} alerts",
                f"{self.notifications_expired:,} deliveries",
            )
        ]


async def expire_alerts(sweep: Sweep) -> AlertCounts:
    """Resolved alerts, delivery records with their attempts, and lapsed silences older than the policy keeps."""
    cutoff = sweep.cutoff_ns()
    resolved = and_(alerts.c.state == RESOLVED, alerts.c.resolved_ns < cutoff)
    notified = alert_notifications.c.created_ns < cutoff
    counts = AlertCounts()
    async with sweep.engine.begin() as connection:
        # Attempts first: SQLite does not enforce the foreign key's ON DELETE CASCADE (PostgreSQL would).
        expired_ids = select(alert_notifications.c.id).where(notified)
        attempts = alert_notification_attempts.c.notification_id.in_(expired_ids)
        await sweep.expire(connection, alert_notification_attempts, attempts)
        counts.notifications_expired = await sweep.expire(connection, alert_notifications, notified)
        counts.alerts_expired = await sweep.expire(connection, alerts, resolved)
        await sweep.expire(connection, alert_silences, alert_silences.c.until_ns < cutoff)
    return counts
