"""Alerting's share of retention: resolved alerts, their delivery records (with each one's attempts)
and lapsed silences expire.

They go with the jobs of their time (``retention_days``); ``expire_alerts`` is registered with the
storage sweep (``storage.retention``).
"""

from __future__ import annotations

from sqlalchemy import and_, delete, func, select

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
        if sweep.dry_run:
            count_alerts = select(func.count()).select_from(alerts).where(resolved)
            count_notifications = select(func.count()).select_from(alert_notifications).where(notified)
            counts.alerts_expired = (await connection.execute(count_alerts)).scalar_one()
            counts.notifications_expired = (await connection.execute(count_notifications)).scalar_one()
            return counts
        # Attempts first: SQLite does not enforce the foreign key's ON DELETE CASCADE (PostgreSQL would).
        expired_ids = select(alert_notifications.c.id).where(notified)
        await connection.execute(
            delete(alert_notification_attempts).where(alert_notification_attempts.c.notification_id.in_(expired_ids))
        )
        counts.notifications_expired = (await connection.execute(delete(alert_notifications).where(notified))).rowcount
        counts.alerts_expired = (await connection.execute(delete(alerts).where(resolved))).rowcount
        await connection.execute(delete(alert_silences).where(alert_silences.c.until_ns < cutoff))
    return counts
