"""The sidecar watching itself: active jobs, feed clients, ingest counters, set-aside rows, health."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from jobpulse.client.jobs import JobSummary, Time


class ActiveJobs(msgspec.Struct, frozen=True):
    """Jobs that have not ended, most recently updated first."""

    count: int
    items: list[JobSummary]


class FeedClientInfo(msgspec.Struct, frozen=True):
    """One live-feed client: its filters, queue and counters."""

    id: int
    remote: str
    connected_at: Time
    subscription: dict[str, Any]
    queued_frames: int
    frames_sent: int
    frames_dropped: int
    resyncs: int


class Connections(msgspec.Struct, frozen=True):
    """Live-feed clients and the feed's counters; ``cursor`` is the feed's current cursor."""

    count: int
    cursor: int
    messages_published: int
    resyncs_sent: int
    clients_dropped: int
    clients: list[FeedClientInfo]


class IngestCounters(msgspec.Struct, frozen=True):
    """What the OTLP receiver took in since the sidecar started."""

    requests: int
    requests_rejected: int
    records: int
    records_applied: int
    records_ignored: int
    records_rejected: int
    spans: int
    spans_of_jobs: int
    jobs_in_memory: int


class DeadLetter(msgspec.Struct, frozen=True):
    """A job state or log line history storage refused, and why; ``payload`` is what was refused."""

    id: int
    at: Time
    job_id: str
    kind: Literal["job", "log"]
    error: str
    payload: Any


class DeadLetterPage(msgspec.Struct, frozen=True):
    """One page of set-aside rows, newest first."""

    items: list[DeadLetter]
    total: int
    next_cursor: str | None


class Health(msgspec.Struct, frozen=True):
    """Readiness (``status`` ``ok`` or ``unavailable``) with the checks that decided it."""

    status: str
    checks: dict[str, str] = {}
    details: dict[str, str] = {}
