"""The sidecar watching itself: active jobs, queues, feed clients, ingest counters, set-aside rows, health."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from jobpulse.client.jobs import JobSummary, Time


class ActiveJobs(msgspec.Struct, frozen=True):
    """Jobs that have not ended, most recently updated first."""

    count: int
    items: list[JobSummary]


class QueueOfType(msgspec.Struct, frozen=True):
    """Jobs of one type waiting (pending: queued, not started) in a queue: how many, and the one that
    has waited longest."""

    job_type: str | None
    pending: int
    oldest_wait_s: float
    oldest_job_id: str
    oldest_queued_at: Time


class QueueView(msgspec.Struct, frozen=True):
    """One queue with jobs waiting: how many, the one that has waited longest, and the same per job
    type (most waiting first)."""

    queue: str | None
    pending: int
    oldest_wait_s: float
    oldest_job_id: str
    oldest_queued_at: Time
    by_type: list[QueueOfType]


class Queues(msgspec.Struct, frozen=True):
    """Queues with jobs waiting, most waiting first; ``pending`` counts them all."""

    pending: int
    queues: list[QueueView]


class LastRun(msgspec.Struct, frozen=True):
    """The latest run of a scheduled name or type, and its status now (running, completed, failed...)."""

    job_id: str
    started_at: Time
    status: str


class ScheduleView(msgspec.Struct, frozen=True):
    """One schedule: the jobs it is about, when they run, where it comes from, and how they keep to it.

    ``state`` is ``ok`` before ``expected_at``, ``late`` from then until ``grace_ends_at``, and
    ``missed`` after that while no run has started.
    """

    name: str
    match: str
    source: str
    cron: str | None
    every_s: float | None
    timezone: str
    grace_s: float
    since: Time
    state: str
    expected_at: Time
    grace_ends_at: Time
    last_run: LastRun | None


class Schedules(msgspec.Struct, frozen=True):
    """The schedules in force, by match and name."""

    schedules: list[ScheduleView]


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
