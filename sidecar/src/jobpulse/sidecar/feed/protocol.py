"""The live-feed wire protocol (docs/live-feed.md): message types, client messages, subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from jobpulse.sidecar.model.events import LEVEL_NUMBERS, LEVELS
from jobpulse.sidecar.model.state import STATUSES

SNAPSHOT = "snapshot"
JOB_STATUS_UPDATE = "job_status_update"
JOB_PROGRESS = "job_progress"
JOB_LOG = "job_log"
ALERT = "alert"
RESYNC = "resync"
ERROR = "error"
PONG = "pong"

# Message types a client can filter on; the others (snapshot, resync, error, pong) always arrive.
FILTERABLE_TYPES = (JOB_STATUS_UPDATE, JOB_PROGRESS, JOB_LOG, ALERT)


class ServerMessage(msgspec.Struct):
    """Every server message. A WebSocket text frame holds a JSON array of one or more of these."""

    type: str
    timestamp: datetime
    cursor: int
    data: Any


class MessageMeta(NamedTuple):
    """What filters look at, kept beside each encoded message."""

    type: str
    job_id: str | None
    job_type: str | None
    status: str | None
    previous_status: str | None
    level: int


class _Filters(msgspec.Struct, forbid_unknown_fields=True):
    job_ids: list[str] | None = None
    job_types: list[str] | None = None
    statuses: list[str] | None = None
    message_types: list[str] | None = None
    min_log_level: str | None = None


# A progress rate above this is no rate limit a client could notice: ticks are coarser.
MAX_PROGRESS_HZ = 1000.0


class Subscribe(_Filters, tag="subscribe", tag_field="type"):
    """Receive (also) what matches; no field at all means everything. ``progress_hz`` caps the
    ``job_progress`` messages per job per second (0: every change); it alone changes only the rate.
    It is checked by :func:`validate_progress_hz` rather than typed, so that a refusal can quote the value."""

    progress_hz: Any = None


class Unsubscribe(_Filters, tag="unsubscribe", tag_field="type"):
    """Stop receiving what matches; no field at all means nothing more."""


class Resume(msgspec.Struct, tag="resume", tag_field="type", forbid_unknown_fields=True):
    """Send what came after ``cursor`` (or a resync when that is no longer possible)."""

    cursor: int


class Ping(msgspec.Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    """Answered by a pong carrying ``data`` back."""

    data: Any = None


ClientMessage = Subscribe | Unsubscribe | Resume | Ping
client_message_decoder = msgspec.json.Decoder(ClientMessage)


class ProtocolError(ValueError):
    """A client message or connect parameter is invalid; the message names the field."""


def _check_values(field: str, values: list[str] | None, allowed: tuple[str, ...]) -> None:
    for value in values or ():
        if value not in allowed:
            raise ProtocolError(f"{field}: unknown value {value!r}; expected one of {list(allowed)}")


def validate_filters(filters: _Filters) -> None:
    _check_values("statuses", filters.statuses, STATUSES)
    _check_values("message_types", filters.message_types, FILTERABLE_TYPES)
    if filters.min_log_level is not None and filters.min_log_level not in LEVEL_NUMBERS:
        raise ProtocolError(f"min_log_level: unknown level {filters.min_log_level!r}; expected one of {list(LEVELS)}")
    if isinstance(filters, Subscribe) and filters.progress_hz is not None:
        validate_progress_hz(filters.progress_hz)


def validate_progress_hz(value: Any) -> None:
    # The comparison is also false for NaN.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_PROGRESS_HZ:
        raise ProtocolError(f"progress_hz: {value!r} is not a number from 0 to {MAX_PROGRESS_HZ:g}")


def decode_client_message(text: str | bytes) -> Subscribe | Unsubscribe | Resume | Ping:
    """Parse and check one client message, or raise ProtocolError saying what is wrong."""
    try:
        message = client_message_decoder.decode(text)
    except msgspec.ValidationError as error:
        raise ProtocolError(f"invalid message: {error}") from None
    except msgspec.DecodeError as error:
        raise ProtocolError(f"invalid JSON: {error}") from None
    except RecursionError:
        raise ProtocolError("invalid message: JSON nested too deeply to decode") from None
    if isinstance(message, Subscribe | Unsubscribe):
        validate_filters(message)
    return message


class _Dimension(NamedTuple):
    """One filter dimension: ``include`` None means any value; ``exclude`` always wins."""

    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()

    def matches(self, value: str | None) -> bool:
        if value is None:
            return self.include is None
        return (self.include is None or value in self.include) and value not in self.exclude

    def add(self, values: list[str]) -> _Dimension:
        added = frozenset(values)
        return _Dimension((self.include or frozenset()) | added, self.exclude - added)

    def remove(self, values: list[str]) -> _Dimension:
        removed = frozenset(values)
        include = None if self.include is None else self.include - removed
        return _Dimension(include, self.exclude | removed)


_NOTHING = _Dimension(frozenset())


class Subscription(NamedTuple):
    """A client's filter. Immutable and hashable, so clients with equal filters share frames."""

    job_ids: _Dimension = _Dimension()
    job_types: _Dimension = _Dimension()
    statuses: _Dimension = _Dimension()
    message_types: _Dimension = _Dimension()
    min_log_level: int = 0
    # None: the feed's default for this filter (see FeedHub.progress_rate).
    progress_hz: float | None = None

    def matches_job(self, job_id: str | None, job_type: str | None, statuses: tuple[str | None, ...]) -> bool:
        if not self.job_ids.matches(job_id) or not self.job_types.matches(job_type):
            return False
        if self.statuses.include is None and not self.statuses.exclude:
            return True
        return any(status is not None and self.statuses.matches(status) for status in statuses)

    def matches(self, meta: MessageMeta) -> bool:
        if not self.message_types.matches(meta.type):
            return False
        if meta.type == JOB_LOG and meta.level < self.min_log_level:
            return False
        return self.matches_job(meta.job_id, meta.job_type, (meta.status, meta.previous_status))

    def subscribe(self, message: _Filters) -> Subscription:
        if _is_empty(message):
            return Subscription()
        return self._apply(message, _Dimension.add)

    def unsubscribe(self, message: _Filters) -> Subscription:
        if _is_empty(message):
            return self._replace(message_types=_NOTHING)
        return self._apply(message, _Dimension.remove)

    def _apply(self, message: _Filters, how: Any) -> Subscription:
        updated = self
        for field in ("job_ids", "job_types", "statuses", "message_types"):
            values = getattr(message, field)
            if values is not None:
                updated = updated._replace(**{field: how(getattr(updated, field), values)})
        if message.min_log_level is not None:
            updated = updated._replace(min_log_level=LEVEL_NUMBERS[message.min_log_level])
        if isinstance(message, Subscribe) and message.progress_hz is not None:
            updated = updated._replace(progress_hz=float(message.progress_hz))
        return updated

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly rendering for the connections endpoint."""

        def show(dimension: _Dimension) -> dict[str, list[str]] | None:
            if dimension.include is None and not dimension.exclude:
                return None
            return {
                "include": sorted(dimension.include) if dimension.include is not None else None,
                "exclude": sorted(dimension.exclude),
            }

        return {
            "job_ids": show(self.job_ids),
            "job_types": show(self.job_types),
            "statuses": show(self.statuses),
            "message_types": show(self.message_types),
            "min_log_level": LEVELS[self.min_log_level],
            "progress_hz": self.progress_hz,
        }


def _is_empty(message: _Filters) -> bool:
    return all(getattr(message, field) is None for field in message.__struct_fields__)


def subscription_from_query(params: dict[str, list[str]]) -> Subscription:
    """The initial subscription from connect parameters (``?job_type=csv&status=running``...)."""
    filters = Subscribe(
        job_ids=params.get("job_id"),
        job_types=params.get("job_type"),
        statuses=params.get("status"),
        message_types=params.get("message_type"),
        min_log_level=(params.get("min_log_level") or [None])[-1],
        progress_hz=_query_rate(params.get("progress_hz")),
    )
    validate_filters(filters)
    return Subscription().subscribe(filters) if not _is_empty(filters) else Subscription()


def _query_rate(values: list[str] | None) -> float | None:
    if not values:
        return None
    try:
        return float(values[-1])
    except ValueError:
        raise ProtocolError(f"progress_hz: {values[-1]!r} is not a number from 0 to {MAX_PROGRESS_HZ:g}") from None
