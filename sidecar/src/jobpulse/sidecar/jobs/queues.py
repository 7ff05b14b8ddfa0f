"""``/api/monitor/queues``: what waits, per queue and job type."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from jobpulse.sidecar.auth.roles import VIEWER, access
from jobpulse.sidecar.model.queues import Waiting, waiting_by_queue, waiting_by_type
from jobpulse.sidecar.store import JobStore
from jobpulse.sidecar.timestamps import to_datetime


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


class QueuesController(Controller):
    """The jobs waiting now."""

    path = "/api/monitor"
    tags = ["monitor"]
    opt = access(VIEWER)

    @get("/queues", summary="Jobs waiting per queue and job type: how many, and the oldest wait")
    async def queues(
        self,
        store: NamedDependency[JobStore],
        queue: FromQuery[str | None] = None,
        job_type: FromQuery[str | None] = None,
    ) -> Queues:
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
