"""Notification text: one alert in full, or a group of alerts as one message with a line each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from apprise import NotifyType

from jobpulse.sidecar.alerting.config import SEVERITIES
from jobpulse.sidecar.alerting.model import REPEAT, RESOLVE, Alert
from jobpulse.sidecar.alerting.rules import human_duration
from jobpulse.sidecar.timestamps import to_datetime

# Lines listed in a grouped notification; the rest are counted.
GROUP_LINES = 30

_TYPES = {
    "critical": NotifyType.FAILURE,
    "high": NotifyType.FAILURE,
    "warning": NotifyType.WARNING,
    "info": NotifyType.INFO,
}


class Message(NamedTuple):
    title: str
    body: str
    notify_type: NotifyType


def highest_severity(alerts: Sequence[Alert]) -> str:
    return min((alert.severity for alert in alerts), key=SEVERITIES.index)


def _moment(ns: int | None) -> str:
    moment = to_datetime(ns)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "?"


def _footer(alert: Alert) -> str:
    return f"Severity {alert.severity} · rule {alert.rule} · key {alert.key} · fired {_moment(alert.fired_ns)}"


def _single(kind: str, alert: Alert, now_ns: int) -> Message:
    if kind == RESOLVE:
        lasted = human_duration(((alert.resolved_ns or now_ns) - alert.fired_ns) / 1e9)
        body = f"Resolved after {lasted}: {alert.resolution or 'the condition cleared'}.\n\n{alert.description}"
        return Message(f"[RESOLVED] {alert.summary}", f"{body}\n\n{_footer(alert)}", NotifyType.SUCCESS)
    title = f"[{alert.severity.upper()}] {alert.summary}"
    body = alert.description
    if kind == REPEAT:
        title = f"[{alert.severity.upper()}] Still firing: {alert.summary}"
        body = f"Firing for {human_duration((now_ns - alert.fired_ns) / 1e9)}.\n\n{body}"
    return Message(title, f"{body}\n\n{_footer(alert)}", _TYPES[alert.severity])


def _line(alert: Alert) -> str:
    where = f" (job id {alert.job_id})" if alert.job_id else ""
    return f"- {alert.summary}{where}"


def _group(kind: str, alerts: Sequence[Alert]) -> Message:
    rule = alerts[0].rule
    severity = highest_severity(alerts)
    job_types = {alert.job_type for alert in alerts}
    of_type = f" of type {job_types.pop()}" if len(job_types) == 1 and None not in job_types else ""
    count = len(alerts)
    lines = [_line(alert) for alert in alerts[:GROUP_LINES]]
    if count > GROUP_LINES:
        lines.append(f"... and {count - GROUP_LINES} more")
    if kind == RESOLVE:
        title = f"[RESOLVED] {rule}: {count} alerts{of_type} resolved"
        notify_type = NotifyType.SUCCESS
    else:
        still = "still firing" if kind == REPEAT else "firing"
        title = f"[{severity.upper()}] {rule}: {count} alerts{of_type} {still}"
        notify_type = _TYPES[severity]
        actions = alerts[0].details.get("suggested_actions")
        if actions:
            lines += ["", "Suggested actions:", *(f"  - {action}" for action in actions)]
    footer = f"Severity {severity} · rule {rule} · first fired {_moment(min(alert.fired_ns for alert in alerts))}"
    return Message(title, "\n".join([*lines, "", footer]), notify_type)


def render(kind: str, alerts: Sequence[Alert], now_ns: int) -> Message:
    """The notification for ``alerts`` (one rule): ``fire``, ``repeat`` or ``resolved``."""
    return _single(kind, alerts[0], now_ns) if len(alerts) == 1 else _group(kind, alerts)
