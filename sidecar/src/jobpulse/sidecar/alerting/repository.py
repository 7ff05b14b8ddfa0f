"""AlertRepository: alerts, notification claims and attempts, and silences in alerting's tables.

Alert changes are written behind (the engine runs on the ingest path and never waits for the disk);
claims, attempts (a row each, and the notification's summary) and silences are written at once by the
background tasks and API calls that make them. Every statement works on SQLite and PostgreSQL: upserts
go through ``storage.engine.insert`` and executemany statements use no IN lists (they cannot be
expanded per row).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    Text,
    bindparam,
    delete,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.alerting.model import FIRING, RESOLVED, Alert, Silence
from jobpulse.sidecar.alerting.tables import alert_notification_attempts, alert_notifications, alert_silences, alerts
from jobpulse.sidecar.history.analytics import percentiles
from jobpulse.sidecar.history.tables import jobs
from jobpulse.sidecar.model.state import COMPLETED
from jobpulse.sidecar.storage.engine import insert
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.alerting")

SENDING = "sending"
SENT = "sent"
FAILED = "failed"
DROPPED = "dropped"
# The outcome of one attempt (``FAILED`` otherwise).
OK = "ok"

_ALERT_FIELDS = (
    "key",
    "occurrence",
    "rule",
    "source",
    "severity",
    "state",
    "summary",
    "description",
    "job_id",
    "job_name",
    "job_type",
    "host",
    "silenced",
    "resolution",
    "fired_ns",
    "resolved_ns",
    "last_notified_ns",
)


def claim_key(alert_key: str, occurrence: str, event: str, channel: str) -> str:
    """The unique claim of one notification: whoever inserts it first sends it."""
    return hashlib.sha256("\x1f".join((alert_key, occurrence, event, channel)).encode()).hexdigest()


def alert_row(alert: Alert) -> dict[str, Any]:
    row = {name: getattr(alert, name) for name in _ALERT_FIELDS}
    row["details"] = msgspec.json.encode(alert.details).decode()
    return row


def alert_from_row(row: Any) -> Alert:
    values = {name: row[name] for name in _ALERT_FIELDS}
    return Alert(**values, details=msgspec.json.decode(row["details"]) if row["details"] else {}, job_status=None)


class AlertFilter(msgspec.Struct, kw_only=True):
    """``GET /api/alerts`` filters; None means any."""

    state: str | None = None
    rule: str | None = None
    severity: str | None = None
    source: str | None = None
    job_id: str | None = None
    job_name: str | None = None
    job_type: str | None = None
    key: str | None = None
    fired_after_ns: int | None = None
    fired_before_ns: int | None = None


class NotificationFilter(msgspec.Struct, kw_only=True):
    """``GET /api/notifications`` filters; None means any."""

    channel: str | None = None
    result: str | None = None
    rule: str | None = None
    event: str | None = None
    alert_key: str | None = None


class Attempt(msgspec.Struct, frozen=True):
    """One try at sending a notification: when it started and ended, how long it took (monotonic
    clock) and why it failed (None: the channel accepted it)."""

    number: int
    started_ns: int
    finished_ns: int
    duration_s: float
    error: str | None

    @property
    def outcome(self) -> str:
        return OK if self.error is None else FAILED


_ATTEMPT_COLUMNS = ("notification_id", "attempt", "started_ns", "finished_ns", "duration_s", "outcome", "error")


def _equal(table: Any, values: dict[str, Any]) -> list[Any]:
    return [table.c[name] == value for name, value in values.items() if value is not None]


class AlertRepository:
    """Storage of alerting, on the history database's engine."""

    def __init__(self, engine: AsyncEngine, *, interval_s: float = 0.2) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}
        self._dropped: list[dict[str, Any]] = []
        self._notified: dict[tuple[str, str], int] = {}
        self._lock = asyncio.Lock()
        self._tasks = BackgroundTasks()
        self.last_error: str | None = None
        alert_insert = insert(engine, alerts)
        self._upsert_alerts = alert_insert.on_conflict_do_update(
            index_elements=[alerts.c.key, alerts.c.occurrence],
            set_={
                **{
                    name: alert_insert.excluded[name]
                    for name in (*_ALERT_FIELDS, "details")
                    if name not in ("key", "occurrence")
                },
                # Delivery records notification times directly; an older in-memory copy must not erase them.
                "last_notified_ns": func.coalesce(alert_insert.excluded.last_notified_ns, alerts.c.last_notified_ns),
            },
            # A resolved occurrence stays resolved, whichever replica writes last. Inlined constant:
            # executemany cannot take a bound parameter here on every dialect.
            where=alerts.c.state != literal_column(f"'{RESOLVED}'"),
        )
        self._set_notified = (
            update(alerts)
            .where(alerts.c.key == bindparam("k"), alerts.c.occurrence == bindparam("o"))
            .values(last_notified_ns=bindparam("at"))
        )
        self._claim = insert(engine, alert_notifications).on_conflict_do_nothing(
            index_elements=[alert_notifications.c.claim]
        )

    # ---- written behind ------------------------------------------------------------------------

    def save(self, alert: Alert) -> None:
        """Queue the alert's current state for writing (the newest state of an occurrence wins)."""
        self._pending[(alert.key, alert.occurrence)] = alert_row(alert)

    def save_dropped(self, rows: Iterable[dict[str, Any]]) -> None:
        """Queue notification rows that were dropped before being claimed (they carry no claim)."""
        self._dropped.extend(rows)

    def mark_notified(self, occurrences: Iterable[tuple[str, str]], now_ns: int) -> None:
        """Queue "notified at ``now_ns``" for these (key, occurrence) pairs. Written after the alerts
        themselves, so it holds even when the alert's own row was still waiting to be written."""
        self._notified.update((occurrence, now_ns) for occurrence in occurrences)

    async def flush(self) -> None:
        """Write what is queued; on failure keep it for the next attempt and raise."""
        async with self._lock:
            if not self._pending and not self._dropped and not self._notified:
                return
            pending, self._pending = self._pending, {}
            dropped, self._dropped = self._dropped, []
            notified, self._notified = self._notified, {}
            try:
                async with self.engine.begin() as connection:
                    if pending:
                        await connection.execute(self._upsert_alerts, list(pending.values()))
                    if dropped:
                        await connection.execute(alert_notifications.insert(), dropped)
                    if notified:
                        await connection.execute(
                            self._set_notified,
                            [{"k": key, "o": occurrence, "at": at} for (key, occurrence), at in notified.items()],
                        )
            except Exception:
                self._pending = {**pending, **self._pending}
                self._dropped = dropped + self._dropped
                self._notified = {**notified, **self._notified}
                raise

    async def start(self) -> None:
        self._tasks.retrying(
            self.interval_s, self.flush, "alert-writer", failed=self._failed, recovered=self._recovered
        )

    async def stop(self) -> None:
        await self._tasks.cancel()
        try:
            await self.flush()
        except Exception:
            log.exception("could not write the last alert changes at shutdown")

    def _failed(self, error: Exception, first: bool) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        if first:
            log.error("writing alerts failed, will retry: %s", self.last_error)

    def _recovered(self) -> None:
        self.last_error = None

    # ---- notifications -------------------------------------------------------------------------

    async def claim(self, rows: list[dict[str, Any]]) -> set[str]:
        """Insert the claims of one delivery (rows share a ``delivery_id``); return the claims it won.

        A claim another replica (or an earlier run) already inserted is skipped by ON CONFLICT DO
        NOTHING, so the rows carrying this delivery's id are exactly the ones it may send.
        """
        delivery_id = rows[0]["delivery_id"]
        async with self.engine.begin() as connection:
            await connection.execute(self._claim, rows)
            result = await connection.execute(
                select(alert_notifications.c.claim).where(alert_notifications.c.delivery_id == delivery_id)
            )
            return {row.claim for row in result}

    async def record_attempt(self, delivery_id: str, attempt: Attempt, result: str) -> None:
        """Record ``attempt`` for every notification of the delivery: a row of its own, and the
        notification's summary (attempts so far, ``result``, last error, times)."""
        values: dict[str, Any] = {
            "attempts": attempt.number,
            "result": result,
            "error": attempt.error,
            "last_attempt_ns": attempt.finished_ns,
        }
        if result == SENT:
            values["sent_ns"] = attempt.finished_ns
        of_delivery = alert_notifications.c.delivery_id == delivery_id
        # Typed literals: PostgreSQL must know each column's type, the error's even when it is NULL.
        attempt_rows = select(
            alert_notifications.c.id,
            literal(attempt.number, Integer()),
            literal(attempt.started_ns, BigInteger()),
            literal(attempt.finished_ns, BigInteger()),
            literal(attempt.duration_s, Float()),
            literal(attempt.outcome, String()),
            literal(attempt.error, Text()),
        ).where(of_delivery)
        async with self.engine.begin() as connection:
            await connection.execute(update(alert_notifications).where(of_delivery).values(**values))
            await connection.execute(alert_notification_attempts.insert().from_select(_ATTEMPT_COLUMNS, attempt_rows))

    async def list_notifications(self, notification_filter: NotificationFilter, limit: int) -> list[dict[str, Any]]:
        """Matching notifications, newest first, each with its attempts in order (``attempt_history``)."""
        query = (
            select(alert_notifications)
            .where(*_equal(alert_notifications, msgspec.structs.asdict(notification_filter)))
            .order_by(alert_notifications.c.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as connection:
            rows = {row.id: {**row._mapping, "attempt_history": []} for row in await connection.execute(query)}
            if rows:
                attempts = await connection.execute(
                    select(alert_notification_attempts)
                    .where(alert_notification_attempts.c.notification_id.in_(list(rows)))
                    .order_by(alert_notification_attempts.c.notification_id, alert_notification_attempts.c.attempt)
                )
                for attempt in attempts:
                    rows[attempt.notification_id]["attempt_history"].append(dict(attempt._mapping))
        return list(rows.values())

    # ---- alerts --------------------------------------------------------------------------------

    async def firing(self) -> list[Alert]:
        """Every occurrence still firing (to pick the lifecycle up again after a restart)."""
        async with self.engine.connect() as connection:
            result = await connection.execute(select(alerts).where(alerts.c.state == FIRING))
            return [alert_from_row(row._mapping) for row in result]

    async def list_alerts(self, alert_filter: AlertFilter, limit: int) -> tuple[list[Alert], int]:
        """Matching alerts, newest first, and how many match in all."""
        await self.flush()
        values = msgspec.structs.asdict(alert_filter)
        after, before = values.pop("fired_after_ns"), values.pop("fired_before_ns")
        conditions = _equal(alerts, values)
        if after is not None:
            conditions.append(alerts.c.fired_ns >= after)
        if before is not None:
            conditions.append(alerts.c.fired_ns < before)
        query = select(alerts).where(*conditions).order_by(alerts.c.fired_ns.desc(), alerts.c.key).limit(limit)
        async with self.engine.connect() as connection:
            items = [alert_from_row(row._mapping) for row in await connection.execute(query)]
            total = (await connection.execute(select(func.count()).select_from(alerts).where(*conditions))).scalar_one()
        return items, total

    # ---- silences ------------------------------------------------------------------------------

    async def add_silence(self, silence: Silence) -> Silence:
        values = msgspec.structs.asdict(silence)
        del values["id"]
        async with self.engine.begin() as connection:
            result = await connection.execute(alert_silences.insert().values(**values))
            return msgspec.structs.replace(silence, id=result.inserted_primary_key[0])

    async def delete_silence(self, silence_id: int) -> bool:
        async with self.engine.begin() as connection:
            result = await connection.execute(delete(alert_silences).where(alert_silences.c.id == silence_id))
            return result.rowcount > 0

    async def silences(self, now_ns: int | None = None) -> list[Silence]:
        """Silences, newest first; only those still in force when ``now_ns`` is given."""
        query = select(alert_silences).order_by(alert_silences.c.id.desc())
        if now_ns is not None:
            query = query.where(alert_silences.c.until_ns > now_ns)
        async with self.engine.connect() as connection:
            return [Silence(**row._mapping) for row in await connection.execute(query)]

    # ---- learned durations ---------------------------------------------------------------------

    async def duration_p95(self, since_ns: int, min_runs: int) -> dict[str, float]:
        """p95 duration (seconds) of completed runs since ``since_ns``, per job name with enough runs."""
        query = percentiles(
            jobs.c.name,
            jobs.c.duration_s,
            jobs.c.duration_s,
            jobs.c.status == COMPLETED,
            jobs.c.duration_s.is_not(None),
            jobs.c.name.is_not(None),
            jobs.c.started_ns >= since_ns,
            fractions=(0.95,),
        ).having(func.count() >= min_runs)
        async with self.engine.connect() as connection:
            return {row.key: float(row.p95) for row in await connection.execute(query)}
