"""Alerts, silences and notifications (docs/alerting.md)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from jobpulse.client.jobs import Time


class Alert(msgspec.Struct, frozen=True):
    """One occurrence of an alert, firing or resolved (also the data of an ``alert`` feed message)."""

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
    fired_at: Time
    resolved_at: Time | None
    last_notified_at: Time | None


class AlertPage(msgspec.Struct, frozen=True):
    """Alerts, newest first; ``total`` match in all, ``firing`` fire now."""

    items: list[Alert]
    total: int
    firing: int


class Silence(msgspec.Struct, frozen=True):
    """A silence: notifications of alerts matching every matcher it gives are held back ``until``."""

    id: int
    rule: str | None
    job_name: str | None
    key: str | None
    until: Time
    created_at: Time
    created_by: str | None
    reason: str | None
    active: bool


class SilenceRequest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The body of a new silence (sent as given; the sidecar checks it)."""

    rule: str | None = None
    job_name: str | None = None
    key: str | None = None
    until: Time | None = None
    duration_s: float | None = None
    created_by: str | None = None
    reason: str | None = None


class NotificationAttempt(msgspec.Struct, frozen=True):
    """One attempt to send a notification: its number, times, duration, outcome (``ok`` or
    ``failed``) and, when it failed, why (channel secrets masked)."""

    attempt: int
    started_at: Time
    finished_at: Time
    duration_s: float
    outcome: Literal["ok", "failed"]
    error: str | None


class Notification(msgspec.Struct, frozen=True):
    """One notification of one alert occurrence on one channel: how its delivery went (``attempts``
    so far, ``result``, last ``error``) and each attempt, first to last (``attempt_history``)."""

    id: int
    alert_key: str
    occurrence: str
    event: str
    rule: str
    channel: str
    channel_tags: list[str]
    masked_url: str | None
    delivery_id: str
    replica: str | None
    attempts: int
    result: str
    error: str | None
    created_at: Time
    last_attempt_at: Time | None
    sent_at: Time | None
    attempt_history: list[NotificationAttempt]


class NotificationPage(msgspec.Struct, frozen=True):
    """Notifications, newest first."""

    items: list[Notification]


class Channel(msgspec.Struct, frozen=True):
    """A configured notification channel (URL masked) and its delivery counters."""

    name: str
    tags: list[str]
    masked_url: str
    queued: int
    sent: int
    failed: int
    dropped: int
    claimed_elsewhere: int
    last_error: str | None


class ChannelTestRequest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The body of a test notification; title and body default to the sidecar's."""

    channel: str
    title: str | None = None
    body: str | None = None


class ChannelTestResult(msgspec.Struct, frozen=True):
    """How a test notification went on one channel."""

    channel: str
    masked_url: str
    result: str
    attempts: int
    error: str | None


class ChannelTestResults(msgspec.Struct, frozen=True):
    """A test notification's result on every channel it went to."""

    results: list[ChannelTestResult]
