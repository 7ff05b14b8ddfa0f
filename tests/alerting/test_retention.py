"""Alerting's part of the retention sweep, on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

from sqlalchemy import select

from jobpulse.sidecar.alerting.retention import AlertCounts, expire_alerts
from jobpulse.sidecar.alerting.tables import alert_notification_attempts, alert_notifications, alerts
from jobpulse.sidecar.storage.policy import RetentionPolicy
from jobpulse.sidecar.storage.retention import RetentionSweeper
from tests.support.job_events import T0, S

DAY = 86400 * S


async def test_old_resolved_alerts_and_their_deliveries_expire_with_their_attempts(engine):
    def alert(key, state, resolved_ns):
        return {
            "key": key,
            "occurrence": "1",
            "rule": "job_failed",
            "source": "rule",
            "severity": "high",
            "state": state,
            "summary": key,
            "silenced": False,
            "fired_ns": T0,
            "resolved_ns": resolved_ns,
        }

    def delivery(key, created_ns):
        return {
            "alert_key": key,
            "occurrence": "1",
            "event": "fire",
            "rule": "job_failed",
            "channel": "ops",
            "delivery_id": key,
            "attempts": 1,
            "result": "sent",
            "created_ns": created_ns,
        }

    async with engine.begin() as connection:
        await connection.execute(
            alerts.insert(),
            [
                alert("old", "resolved", T0),
                alert("still-firing", "firing", None),
                alert("recent", "resolved", T0 + 29 * DAY),
            ],
        )
        await connection.execute(alert_notifications.insert(), [delivery("old", T0), delivery("recent", T0 + 29 * DAY)])
        ids = dict((await connection.execute(select(alert_notifications.c.alert_key, alert_notifications.c.id))).all())
        await connection.execute(
            alert_notification_attempts.insert(),
            [
                {
                    "notification_id": ids[key],
                    "attempt": number,
                    "started_ns": created_ns + number * S,
                    "finished_ns": created_ns + number * S,
                    "duration_s": 0.1,
                    "outcome": "ok" if number == 2 else "failed",
                    "error": None if number == 2 else "HTTP 500",
                }
                for key, created_ns in (("old", T0), ("recent", T0 + 29 * DAY))
                for number in (1, 2)
            ],
        )
    retention = RetentionSweeper(engine, RetentionPolicy(), [expire_alerts], clock_ns=lambda: T0 + 31 * DAY)
    preview = (await retention.sweep(dry_run=True)).part(AlertCounts)
    assert (preview.alerts_expired, preview.notifications_expired) == (1, 1)
    await retention.sweep()
    async with engine.connect() as connection:
        assert sorted((await connection.execute(select(alerts.c.key))).scalars()) == ["recent", "still-firing"]
        assert list((await connection.execute(select(alert_notifications.c.alert_key))).scalars()) == ["recent"]
        kept = (await connection.execute(select(alert_notification_attempts.c.notification_id))).scalars()
        assert list(kept) == [ids["recent"]] * 2, "the attempts went with their notification"
