"""``/api/monitor``: what is running now, what waits, and who is watching."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.params import Parameter

from jobpulse.sidecar import schemas
from jobpulse.sidecar.api.jobs import JobStatus
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.ingest.receiver import Ingestor
from jobpulse.sidecar.model.queues import Waiting, waiting_by_queue, waiting_by_type
from jobpulse.sidecar.model.state import JobState
from jobpulse.sidecar.settings import Settings
from jobpulse.sidecar.store import JobStore
from jobpulse.sidecar.timestamps import to_datetime


def matches(state: JobState, statuses: list[str] | None, job_type: str | None, name: str | None, owner: str | None) -> bool:
    """Whether ``state`` passes the filters (name: a case-insensitive substring)."""
    if statuses and state.status not in statuses:
        return False
    if job_type is not None and state.job_type != job_type:
        return False
    if owner is not None and state.owner != owner:
        return False
    return name is None or (state.name is not None and name.lower() in state.name.lower())


class ActiveJobs(msgspec.Struct):
    """Jobs that have not ended, most recently updated first."""

    count: int
    items: list[schemas.JobSummary]


class QueueFigures(msgspec.Struct):
    """Jobs waiting (pending: queued, not started): how many, and the one that has waited longest."""

    pending: int
    oldest_wait_s: float
    oldest_job_id: str
    oldest_queued_at: datetime


class QueueOfType(QueueFigures):
    """Jobs of one type waiting in a queue."""

    job_type: str | None


class QueueView(QueueFigures):
    """One queue with jobs waiting, and its figures per job type (most waiting first)."""

    queue: str | None
    by_type: list[QueueOfType]


class Queues(msgspec.Struct):
    """Queues with jobs waiting, most waiting first; ``pending`` counts them all."""

    pending: int
    queues: list[QueueView]


def _figures(waiting: Waiting) -> dict[str, Any]:
    return {
        "pending": waiting.pending,
        "oldest_wait_s": round(waiting.oldest_wait_s, 3),
        "oldest_job_id": waiting.oldest_job_id,
        "oldest_queued_at": to_datetime(waiting.oldest_queued_ns),
    }


class ClientInfo(msgspec.Struct):
    """One live-feed client."""

    id: int
    remote: str
    connected_at: datetime
    subscription: dict[str, Any]
    queued_frames: int
    frames_sent: int
    frames_dropped: int
    resyncs: int


class Connections(msgspec.Struct):
    """Live-feed clients and feed counters."""

    count: int
    cursor: int
    messages_published: int
    resyncs_sent: int
    clients_dropped: int
    clients: list[ClientInfo]


class IngestCounters(msgspec.Struct):
    """What the OTLP receiver took in since start."""

    requests: int
    requests_rejected: int
    records: int
    records_applied: int
    records_ignored: int
    records_rejected: int
    spans: int
    spans_of_jobs: int
    jobs_in_memory: int


class MonitorController(Controller):
    """Live view of the sidecar."""

    path = "/api/monitor"
    tags = ["monitor"]

    @get("/jobs", summary="Active jobs, with filters")
    async def active_jobs(
        self,
        store: JobStore,
        settings: Settings,
        status: Annotated[list[JobStatus] | None, Parameter(description="Repeat for several")] = None,
        job_type: str | None = None,
        name: str | None = None,
        owner: str | None = None,
    ) -> ActiveJobs:
        now_ns = time.time_ns()
        states = [state for state in store.active() if matches(state, status, job_type, name, owner)]
        states.sort(key=lambda state: state.last_ns or 0, reverse=True)
        items = [schemas.summary(state, now_ns, settings.control_ack_timeout_s) for state in states]
        return ActiveJobs(count=len(items), items=items)

    @get(
        "/queues", summary="Jobs waiting per queue and job type: how many, and the oldest wait", opt={"role": "viewer"}
    )
    async def queues(self, store: JobStore, queue: str | None = None, job_type: str | None = None) -> Queues:
        by_type = {
            key: waiting
            for key, waiting in waiting_by_type(store.active(), time.time_ns()).items()
            if (queue is None or key[0] == queue) and (job_type is None or key[1] == job_type)
        }
        views = [
            QueueView(
                **_figures(waiting),
                queue=name,
                by_type=sorted(
                    (
                        QueueOfType(**_figures(of_type), job_type=kind)
                        for (of, kind), of_type in by_type.items()
                        if of == name
                    ),
                    key=lambda view: (-view.pending, view.job_type or ""),
                ),
            )
            for name, waiting in waiting_by_queue(by_type).items()
        ]
        views.sort(key=lambda view: (-view.pending, view.queue or ""))
        return Queues(pending=sum(view.pending for view in views), queues=views)

    @get("/connections", summary="Live-feed clients")
    async def connections(self, hub: FeedHub) -> Connections:
        clients = [msgspec.convert(client.describe(), ClientInfo) for client in hub.clients]
        return Connections(
            count=len(clients),
            cursor=hub.cursor,
            messages_published=hub.messages_published,
            resyncs_sent=hub.resyncs_sent,
            clients_dropped=hub.clients_dropped,
            clients=clients,
        )

    @get("/ingest", summary="OTLP receiver counters")
    async def ingest(self, ingestor: Ingestor, store: JobStore) -> IngestCounters:
        stats = ingestor.stats
        return IngestCounters(
            requests=stats.requests,
            requests_rejected=stats.requests_rejected,
            records=stats.records,
            records_applied=stats.records_applied,
            records_ignored=stats.records_ignored,
            records_rejected=stats.records_rejected,
            spans=stats.spans,
            spans_of_jobs=stats.spans_of_jobs,
            jobs_in_memory=len(store),
        )
