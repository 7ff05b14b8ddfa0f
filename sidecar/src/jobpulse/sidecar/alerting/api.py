"""REST: ``/api/alerts`` (alerts and silences) and ``/api/notifications`` (deliveries, channels, test)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from jobpulse.sidecar.alerting.config import Severity
from jobpulse.sidecar.alerting.delivery import ChannelTestResult
from jobpulse.sidecar.alerting.engine import AlertEngine
from jobpulse.sidecar.alerting.model import AlertView, Silence, SilenceView, alert_view, silence_view
from jobpulse.sidecar.alerting.repository import AlertFilter, NotificationFilter
from jobpulse.sidecar.api.bounds import INT64_MAX, bound_ns
from jobpulse.sidecar.api.errors import UnprocessableEntityException
from jobpulse.sidecar.api.paging import Limit
from jobpulse.sidecar.auth.principal import Principal
from jobpulse.sidecar.auth.roles import OPERATOR, VIEWER, access
from jobpulse.sidecar.timestamps import to_datetime, to_ns

AlertState = Literal["firing", "resolved"]
Result = Literal["sending", "retrying", "sent", "failed", "dropped"]
Outcome = Literal["ok", "failed"]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=400)]
# A silence longer than a century is a mistake, and one much longer would end past the times storage holds.
LONGEST_SILENCE_S = 100 * 366 * 86400


class AlertPage(msgspec.Struct):
    """Alerts, newest first, with how many match in all and how many fire now (in this sidecar)."""

    items: list[AlertView]
    total: int
    firing: int


class SilenceRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Mute the alerts matching every matcher given (at least one) until ``until``, or for ``duration_s``."""

    rule: Text | None = None
    job_name: Text | None = None
    key: Text | None = None
    until: datetime | None = None
    duration_s: Annotated[float, msgspec.Meta(gt=0, le=LONGEST_SILENCE_S)] | None = None
    created_by: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class NotificationAttemptView(msgspec.Struct):
    """One attempt to send a notification: when it started and finished, how long it took, its
    outcome and, when it failed, why (channel secrets masked)."""

    attempt: int
    started_at: datetime
    finished_at: datetime
    duration_s: float
    outcome: Outcome
    error: str | None


class NotificationView(msgspec.Struct):
    """One notification of one alert occurrence on one channel: the summary of its delivery
    (``attempts`` so far, ``result``, last ``error``) and each attempt, first to last."""

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
    created_at: datetime
    last_attempt_at: datetime | None
    sent_at: datetime | None
    attempt_history: list[NotificationAttemptView]


class NotificationPage(msgspec.Struct):
    items: list[NotificationView]


class ChannelView(msgspec.Struct):
    """A configured channel (its URL masked) and its delivery counters."""

    name: str
    tags: list[str]
    masked_url: str
    queued: int
    sent: int
    failed: int
    dropped: int
    claimed_elsewhere: int
    last_error: str | None


class ChannelTestRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Send a test notification to the channel with this name, or to every channel with this tag."""

    channel: Text
    title: Text = "jobpulse test notification"
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)] = (
        "If you can read this, jobpulse alerts reach this channel."
    )


class ChannelTestResponse(msgspec.Struct):
    results: list[ChannelTestResult]


def _body_error(field: str, message: str) -> ValidationException:
    """A 422 naming the request body field, like schema errors."""
    return ValidationException(
        detail=f"{field}: {message}", extra=[{"key": field, "message": message, "source": "body"}]
    )


def _notification_view(row: dict[str, Any]) -> NotificationView:
    return NotificationView(
        id=row["id"],
        alert_key=row["alert_key"],
        occurrence=row["occurrence"],
        event=row["event"],
        rule=row["rule"],
        channel=row["channel"],
        channel_tags=[tag for tag in (row["channel_tags"] or "").split(",") if tag],
        masked_url=row["masked_url"],
        delivery_id=row["delivery_id"],
        replica=row["replica"],
        attempts=row["attempts"],
        result=row["result"],
        error=row["error"],
        created_at=to_datetime(row["created_ns"]),
        last_attempt_at=to_datetime(row["last_attempt_ns"]),
        sent_at=to_datetime(row["sent_ns"]),
        attempt_history=[
            NotificationAttemptView(
                attempt=attempt["attempt"],
                started_at=to_datetime(attempt["started_ns"]),
                finished_at=to_datetime(attempt["finished_ns"]),
                duration_s=attempt["duration_s"],
                outcome=attempt["outcome"],
                error=attempt["error"],
            )
            for attempt in row["attempt_history"]
        ],
    )


class AlertsController(Controller):
    """Alerts, firing and past, and silences."""

    path = "/api/alerts"
    tags = ["alerting"]
    opt = access(VIEWER)

    @get("/", summary="Alerts, firing and resolved, newest first")
    async def list_alerts(
        self,
        alert_engine: NamedDependency[AlertEngine],
        # "state" is a reserved parameter name in Litestar: the query parameter keeps it.
        alert_state: Annotated[AlertState | None, QueryParameter(name="state")] = None,
        rule: FromQuery[str | None] = None,
        severity: FromQuery[Severity | None] = None,
        source: FromQuery[Literal["sidecar", "alertmanager"] | None] = None,
        job_id: FromQuery[str | None] = None,
        job_name: FromQuery[str | None] = None,
        job_type: FromQuery[str | None] = None,
        key: FromQuery[str | None] = None,
        fired_after: FromQuery[datetime | None] = None,
        fired_before: FromQuery[datetime | None] = None,
        limit: Limit = 100,
    ) -> AlertPage:
        alert_filter = AlertFilter(
            state=alert_state,
            rule=rule,
            severity=severity,
            source=source,
            job_id=job_id,
            job_name=job_name,
            job_type=job_type,
            key=key,
            fired_after_ns=bound_ns(fired_after),
            fired_before_ns=bound_ns(fired_before),
        )
        items, total = await alert_engine.repository.list_alerts(alert_filter, limit)
        return AlertPage(items=[alert_view(alert) for alert in items], total=total, firing=len(alert_engine.active))

    @get("/silences", summary="Silences, newest first")
    async def list_silences(
        self, alert_engine: NamedDependency[AlertEngine], include_expired: FromQuery[bool] = False
    ) -> list[SilenceView]:
        now_ns = time.time_ns()
        silences = await alert_engine.repository.silences(None if include_expired else now_ns)
        return [silence_view(silence, now_ns) for silence in silences]

    @post(
        "/silences",
        summary="Mute a rule, a job name or an alert key until a time",
        status_code=201,
        raises=[UnprocessableEntityException],
        opt=access(OPERATOR),
    )
    async def create_silence(
        self,
        alert_engine: NamedDependency[AlertEngine],
        principal: NamedDependency[Principal],
        data: JSONBody[SilenceRequest],
    ) -> SilenceView:
        now_ns = time.time_ns()
        if data.rule is None and data.job_name is None and data.key is None:
            raise _body_error("rule", "give at least one of rule, job_name or key")
        if (data.until is None) == (data.duration_s is None):
            raise _body_error("until", "give either until or duration_s")
        if data.until is not None:
            until_ns = to_ns(data.until)
            if until_ns > INT64_MAX:
                latest = to_datetime(INT64_MAX).isoformat()  # type: ignore[union-attr]
                raise _body_error(
                    "until", f"{data.until.isoformat()} is past the latest time that can be stored, {latest}"
                )
        else:
            until_ns = now_ns + int(data.duration_s * 1e9)  # type: ignore[operator]
        if until_ns <= now_ns:
            raise _body_error("until", "must be in the future")
        silence = await alert_engine.add_silence(
            Silence(
                id=0,
                until_ns=until_ns,
                created_ns=now_ns,
                rule=data.rule,
                job_name=data.job_name,
                alert_key=data.key,
                # With authentication on the token names who silenced; the body may only when it is off.
                created_by=principal.name if principal.token_id else data.created_by or principal.name,
                reason=data.reason,
            )
        )
        return silence_view(silence, now_ns)

    @delete(
        "/silences/{silence_id:int}",
        summary="End a silence now",
        status_code=204,
        raises=[NotFoundException],
        opt=access(OPERATOR),
    )
    async def delete_silence(
        self, alert_engine: NamedDependency[AlertEngine], silence_id: Annotated[int, PathParameter(ge=1, le=INT64_MAX)]
    ) -> None:
        if not await alert_engine.delete_silence(silence_id):
            raise NotFoundException(detail=f"silence {silence_id} not found")


class NotificationsController(Controller):
    """Delivery history, channels, test notifications."""

    path = "/api/notifications"
    tags = ["alerting"]
    opt = access(VIEWER)

    @get("/", summary="Notifications: channel, result, last error and each attempt; newest first")
    async def list_notifications(
        self,
        alert_engine: NamedDependency[AlertEngine],
        channel: FromQuery[str | None] = None,
        result: FromQuery[Result | None] = None,
        rule: FromQuery[str | None] = None,
        event: FromQuery[str | None] = None,
        alert_key: FromQuery[str | None] = None,
        limit: Limit = 100,
    ) -> NotificationPage:
        notification_filter = NotificationFilter(
            channel=channel, result=result, rule=rule, event=event, alert_key=alert_key
        )
        rows = await alert_engine.repository.list_notifications(notification_filter, limit)
        return NotificationPage(items=[_notification_view(row) for row in rows])

    @get("/channels", summary="Configured channels (URLs masked) and their counters")
    async def list_channels(self, alert_engine: NamedDependency[AlertEngine]) -> list[ChannelView]:
        return [
            ChannelView(
                name=channel.name,
                tags=channel.tags,
                masked_url=channel.masked_url,
                queued=channel.queued,
                sent=channel.sent,
                failed=channel.failed,
                dropped=channel.dropped,
                claimed_elsewhere=channel.claimed_elsewhere,
                last_error=channel.last_error,
            )
            for channel in alert_engine.delivery.channels
        ]

    @post(
        "/test",
        summary="Send a test notification to a channel (by name or tag)",
        status_code=200,
        raises=[NotFoundException, UnprocessableEntityException],
        opt=access(OPERATOR),
    )
    async def send_test(
        self, alert_engine: NamedDependency[AlertEngine], data: JSONBody[ChannelTestRequest]
    ) -> ChannelTestResponse:
        channels = alert_engine.delivery.find(data.channel)
        if not channels:
            raise NotFoundException(detail=f"no channel named or tagged '{data.channel}'")
        return ChannelTestResponse(results=await alert_engine.delivery.send_test(channels, data.title, data.body))
