"""``POST /api/alertmanager/webhook``: Prometheus Alertmanager's webhook (payload version 4).

Its alerts go through the same engine as the sidecar's own: dedupe (by fingerprint), grouping,
silences (the rule is the ``alertname``), channels (those of ``rules.alertmanager``), history and
the live feed. Labels ``job_id``, ``job_name``, ``job_type`` and ``instance`` tie an alert to a job
or host, as the jobpulse Prometheus rules set them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, ServiceUnavailableException
from litestar.params import JSONBody

from jobpulse.sidecar.alerting.engine import AlertEngine
from jobpulse.sidecar.alerting.model import SOURCE_ALERTMANAGER, Condition
from jobpulse.sidecar.api.errors import UnprocessableEntityException
from jobpulse.sidecar.auth.roles import INGEST, access

# Severity labels as Prometheus rules commonly write them, mapped onto jobpulse severities.
_SEVERITIES = {
    "critical": "critical",
    "page": "critical",
    "high": "high",
    "error": "high",
    "major": "high",
    "warning": "warning",
    "warn": "warning",
    "minor": "warning",
    "info": "info",
    "none": "info",
    "low": "info",
}


class AlertmanagerAlert(msgspec.Struct, kw_only=True):
    """One alert of the payload."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime = msgspec.field(name="startsAt")
    ends_at: datetime | None = msgspec.field(default=None, name="endsAt")
    generator_url: str = msgspec.field(default="", name="generatorURL")
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if not self.labels.get("alertname"):
            raise ValueError("labels: `alertname` is required")


class AlertmanagerPayload(msgspec.Struct, kw_only=True):
    """Alertmanager's webhook body (``version`` "4")."""

    version: Literal["4"]
    group_key: str = msgspec.field(name="groupKey")
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: dict[str, str] = msgspec.field(name="groupLabels")
    common_labels: dict[str, str] = msgspec.field(name="commonLabels")
    common_annotations: dict[str, str] = msgspec.field(name="commonAnnotations")
    external_url: str = msgspec.field(name="externalURL")
    alerts: Annotated[list[AlertmanagerAlert], msgspec.Meta(min_length=1)]
    truncated_alerts: int = msgspec.field(default=0, name="truncatedAlerts")


class WebhookResult(msgspec.Struct):
    """What the webhook did with the payload's alerts."""

    received: int
    fired: int
    resolved: int
    unchanged: int


def fingerprint(alert: AlertmanagerAlert) -> str:
    """Alertmanager's fingerprint, or one of our own from the labels when the sender left it out."""
    if alert.fingerprint:
        return alert.fingerprint
    return hashlib.sha256(msgspec.json.encode(sorted(alert.labels.items()))).hexdigest()[:16]


def to_condition(alert: AlertmanagerAlert, payload: AlertmanagerPayload) -> Condition:
    labels, annotations = alert.labels, alert.annotations
    name = labels["alertname"]
    summary = annotations.get("summary") or annotations.get("description") or name
    lines = [summary]
    if annotations.get("description") and annotations["description"] != summary:
        lines.append(annotations["description"])
    lines.append("Labels: " + ", ".join(f"{key}={value}" for key, value in sorted(labels.items())))
    if alert.generator_url:
        lines.append(f"Source: {alert.generator_url}")
    lines.append(f"From Alertmanager {payload.external_url} (receiver {payload.receiver}).")
    return Condition(
        rule=name,
        key=f"alertmanager:{fingerprint(alert)}",
        occurrence=alert.starts_at.isoformat(),
        summary=summary,
        description="\n".join(lines),
        details={
            "labels": labels,
            "annotations": annotations,
            "starts_at": alert.starts_at.isoformat(),
            "generator_url": alert.generator_url,
            "fingerprint": fingerprint(alert),
            "receiver": payload.receiver,
            "group_key": payload.group_key,
            "external_url": payload.external_url,
        },
        severity=_SEVERITIES.get(labels.get("severity", "").lower()),
        source=SOURCE_ALERTMANAGER,
        job_id=labels.get("job_id"),
        job_name=labels.get("job_name"),
        job_type=labels.get("job_type"),
        host=labels.get("instance") or labels.get("host"),
    )


class AlertmanagerController(Controller):
    """Alertmanager routes its notifications here (a ``webhook_configs`` receiver)."""

    path = "/api/alertmanager"
    tags = ["alerting"]
    opt = access(INGEST)

    @post(
        "/webhook",
        summary="Receive Alertmanager notifications (webhook payload version 4)",
        status_code=200,
        raises=[UnprocessableEntityException, ServiceUnavailableException],
    )
    async def webhook(
        self, alert_engine: NamedDependency[AlertEngine], data: JSONBody[AlertmanagerPayload]
    ) -> WebhookResult:
        if not alert_engine.running:
            raise HTTPException(status_code=503, detail="alerting is disabled or not running")
        fired = resolved = 0
        for alert in data.alerts:
            condition = to_condition(alert, data)
            if alert.status == "firing":
                fired += alert_engine.fire(condition) is not None
            else:
                resolved += (
                    alert_engine.resolve(condition.key, condition.occurrence, "resolved in Alertmanager") is not None
                )
        return WebhookResult(
            received=len(data.alerts), fired=fired, resolved=resolved, unchanged=len(data.alerts) - fired - resolved
        )
