"""What alerting deals in: conditions found by rules, alerts with a lifecycle, and their wire form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from jobpulse.sidecar.timestamps import to_datetime

FIRING = "firing"
RESOLVED = "resolved"

SOURCE_SIDECAR = "sidecar"
SOURCE_ALERTMANAGER = "alertmanager"

# Notification events. Repeats are numbered ("repeat3") so each one is claimed once.
FIRE = "fire"
RESOLVE = "resolved"
REPEAT = "repeat"
TEST = "test"


class Condition(msgspec.Struct, frozen=True, kw_only=True):
    """What a rule found true now: the alert that should be firing.

    ``key`` (rule + job or host) dedupes: one condition notifies once. ``occurrence`` tells a new
    episode of the same key from the same one seen again; rules derive it from the job's events, so
    every replica folding the same events computes the same occurrence (and claims the same
    notification).
    """

    rule: str
    key: str
    occurrence: str
    summary: str
    description: str = ""
    details: dict[str, Any] = {}
    severity: str | None = None
    source: str = SOURCE_SIDECAR
    job_id: str | None = None
    job_name: str | None = None
    job_type: str | None = None
    job_status: str | None = None
    host: str | None = None


class Alert(msgspec.Struct, kw_only=True):
    """One occurrence of an alert, firing or resolved. Mutable: the engine owns it."""

    key: str
    occurrence: str
    rule: str
    source: str
    severity: str
    state: str
    summary: str
    description: str
    details: dict[str, Any]
    job_id: str | None
    job_name: str | None
    job_type: str | None
    job_status: str | None
    host: str | None
    fired_ns: int
    resolved_ns: int | None = None
    last_notified_ns: int | None = None
    silenced: bool = False
    resolution: str | None = None
    # In memory only: a fire notification was handed to delivery (so a resolution is worth telling),
    # and how many repeats were sent.
    notified: bool = False
    repeats: int = 0

    @classmethod
    def fire(cls, condition: Condition, severity: str, now_ns: int, silenced: bool) -> Alert:
        return cls(
            key=condition.key,
            occurrence=condition.occurrence,
            rule=condition.rule,
            source=condition.source,
            severity=condition.severity or severity,
            state=FIRING,
            summary=condition.summary,
            description=condition.description,
            details=condition.details,
            job_id=condition.job_id,
            job_name=condition.job_name,
            job_type=condition.job_type,
            job_status=condition.job_status,
            host=condition.host,
            fired_ns=now_ns,
            silenced=silenced,
        )


class AlertView(msgspec.Struct, frozen=True):
    """An alert as REST, the live feed (message type ``alert``) and notifications show it."""

    key: str
    occurrence: str
    rule: str
    source: str
    severity: str
    state: str
    summary: str
    description: str
    details: dict[str, Any]
    job_id: str | None
    job_name: str | None
    job_type: str | None
    host: str | None
    silenced: bool
    resolution: str | None
    fired_at: datetime
    resolved_at: datetime | None
    last_notified_at: datetime | None


def alert_view(alert: Alert) -> AlertView:
    return AlertView(
        key=alert.key,
        occurrence=alert.occurrence,
        rule=alert.rule,
        source=alert.source,
        severity=alert.severity,
        state=alert.state,
        summary=alert.summary,
        description=alert.description,
        details=alert.details,
        job_id=alert.job_id,
        job_name=alert.job_name,
        job_type=alert.job_type,
        host=alert.host,
        silenced=alert.silenced,
        resolution=alert.resolution,
        fired_at=to_datetime(alert.fired_ns),
        resolved_at=to_datetime(alert.resolved_ns),
        last_notified_at=to_datetime(alert.last_notified_ns),
    )


class Silence(msgspec.Struct, frozen=True, kw_only=True):
    """Mutes notifications of the alerts it matches until ``until_ns``. Every matcher given must match."""

    id: int
    until_ns: int
    created_ns: int
    rule: str | None = None
    job_name: str | None = None
    alert_key: str | None = None
    created_by: str | None = None
    reason: str | None = None

    def matches(self, alert: Alert, now_ns: int) -> bool:
        return (
            now_ns < self.until_ns
            and (self.rule is None or self.rule == alert.rule)
            and (self.job_name is None or self.job_name == alert.job_name)
            and (self.alert_key is None or self.alert_key == alert.key)
        )


class SilenceView(msgspec.Struct, frozen=True):
    """A silence as the API shows it."""

    id: int
    rule: str | None
    job_name: str | None
    key: str | None
    until: datetime
    created_at: datetime
    created_by: str | None
    reason: str | None
    active: bool


def silence_view(silence: Silence, now_ns: int) -> SilenceView:
    return SilenceView(
        id=silence.id,
        rule=silence.rule,
        job_name=silence.job_name,
        key=silence.alert_key,
        until=to_datetime(silence.until_ns),
        created_at=to_datetime(silence.created_ns),
        created_by=silence.created_by,
        reason=silence.reason,
        active=now_ns < silence.until_ns,
    )
