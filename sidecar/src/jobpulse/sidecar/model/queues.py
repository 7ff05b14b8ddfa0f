"""What waits in each queue: pending jobs counted by queue and job type, with the oldest of them.

REST (``GET /api/monitor/queues``), the Prometheus renderer and the queue alert rules read the same
figures from here, computed from the active job states when asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from jobpulse.sidecar.model.figures import wait_s
from jobpulse.sidecar.model.state import PENDING, JobState

# (queue, job type): None where the job did not say.
QueueKey = tuple[str | None, str | None]


class Waiting(msgspec.Struct, frozen=True):
    """Jobs pending in one queue (or of one job type in it): how many, and the one queued first."""

    pending: int
    oldest_job_id: str
    oldest_queued_ns: int
    oldest_wait_s: float


def _older(a: Waiting, b: Waiting) -> Waiting:
    return a if (a.oldest_queued_ns, a.oldest_job_id) <= (b.oldest_queued_ns, b.oldest_job_id) else b


def _merge(a: Waiting, b: Waiting) -> Waiting:
    oldest = _older(a, b)
    return msgspec.structs.replace(oldest, pending=a.pending + b.pending)


def waiting_by_type(states: Iterable[JobState], now_ns: int) -> dict[QueueKey, Waiting]:
    """Pending jobs by (queue, job type). ``states`` may hold any jobs: only pending ones count."""
    found: dict[QueueKey, Waiting] = {}
    for state in states:
        if state.status != PENDING or state.queued_ns is None:
            continue
        one = Waiting(1, state.id, state.queued_ns, wait_s(state, now_ns) or 0.0)
        key = (state.queue, state.job_type)
        known = found.get(key)
        found[key] = one if known is None else _merge(known, one)
    return found


def waiting_by_queue(by_type: Mapping[QueueKey, Waiting]) -> dict[str | None, Waiting]:
    """The figures of ``waiting_by_type`` summed over the job types of each queue."""
    found: dict[str | None, Waiting] = {}
    for (queue, _), waiting in by_type.items():
        known = found.get(queue)
        found[queue] = waiting if known is None else _merge(known, waiting)
    return found
