"""The live feed's messages (docs/live-feed.md), decoded into one Struct type per message type.

Every message has the feed's ``cursor`` and a ``timestamp``; ``data`` is typed by the message type.
A frame is a JSON array of messages.
"""

from __future__ import annotations

from typing import Any

import msgspec

from jobpulse.client.alerting import Alert
from jobpulse.client.errors import UnexpectedAnswer
from jobpulse.client.jobs import JobSummary, LogLine, Progress, Time


class JobList(msgspec.Struct, frozen=True):
    """The active jobs matching the feed's filters. The sidecar sends a long list in parts, ``part``
    1 to ``parts`` with the same cursor; a :class:`~jobpulse.client.feed.Feed` yields them as one."""

    jobs: list[JobSummary]
    part: int = 1
    parts: int = 1


class JobLogLine(LogLine, frozen=True, kw_only=True):
    """A log line with the job it belongs to."""

    job_id: str
    job_name: str | None
    job_type: str | None


class Detail(msgspec.Struct, frozen=True):
    """What the sidecar found wrong with a message or connect parameter."""

    detail: str


class Message(msgspec.Struct, frozen=True, tag_field="type"):
    """A live-feed message."""

    timestamp: Time
    cursor: int


class Snapshot(Message, tag="snapshot", frozen=True):
    """The active jobs matching the filters, sent on connect."""

    data: JobList


class Resync(Message, tag="resync", frozen=True):
    """The feed could not send everything since the last cursor (a sidecar restart, a gap older than
    its replay window, a client too slow): replace local state with these jobs."""

    data: JobList


class JobStatusUpdate(Message, tag="job_status_update", frozen=True):
    """A job appeared, changed status, or had a control request made or acknowledged."""

    data: JobSummary


class JobProgress(Message, tag="job_progress", frozen=True):
    """A job's counts, step or resources moved."""

    data: Progress


class JobLog(Message, tag="job_log", frozen=True):
    """A job logged a line."""

    data: JobLogLine


class AlertUpdate(Message, tag="alert", frozen=True):
    """An alert fired or resolved."""

    data: Alert


class ErrorMessage(Message, tag="error", frozen=True):
    """The sidecar refused a message or connect parameter of this client."""

    data: Detail


class Pong(Message, tag="pong", frozen=True):
    """The answer to a ping, carrying its data back."""

    data: Any


class UnknownMessage(msgspec.Struct, frozen=True):
    """A message of a type this client does not know (from a newer sidecar)."""

    type: str
    timestamp: Time
    cursor: int
    data: Any


FeedMessage = Snapshot | Resync | JobStatusUpdate | JobProgress | JobLog | AlertUpdate | ErrorMessage | Pong
KNOWN_TYPES = frozenset(message.__struct_config__.tag for message in FeedMessage.__args__)  # type: ignore[attr-defined]

_frame = msgspec.json.Decoder(list[msgspec.Raw])
_known = msgspec.json.Decoder(FeedMessage)
_unknown = msgspec.json.Decoder(UnknownMessage)


def decode_frame(frame: str | bytes) -> list[FeedMessage | UnknownMessage]:
    """The messages of one frame. A type this client does not know becomes an UnknownMessage; a known
    type that does not read as documented is an UnexpectedAnswer."""
    try:
        raws = _frame.decode(frame)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise UnexpectedAnswer(f"live feed: a frame is not a JSON array of messages: {error}") from None
    messages: list[FeedMessage | UnknownMessage] = []
    for raw in raws:
        try:
            messages.append(_known.decode(raw))
        except msgspec.ValidationError as error:
            try:
                unknown = _unknown.decode(raw)
            except msgspec.ValidationError:
                unknown = None
            if unknown is None or unknown.type in KNOWN_TYPES:
                raise UnexpectedAnswer(f"live feed: {error}: {bytes(raw)[:300]!r}") from None
            messages.append(unknown)
    return messages
