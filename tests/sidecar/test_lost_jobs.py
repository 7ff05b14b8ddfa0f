"""LostJobDetector: when a silent job becomes lost, in steady state and just after a restart."""

from __future__ import annotations

import msgspec
import pytest

from jobpulse.sidecar.ingest.receiver import BusUnavailable
from jobpulse.sidecar.lost_jobs import LostJobDetector
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.store import JobStore
from tests.support.job_events import T0, S, run


class Clock:
    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


def running_job(store: JobStore, last_heard_ns: int, heartbeat_interval_s: float | None = None) -> str:
    start, *rest = run(status=None, received_ns=last_heard_ns)
    store.apply_all([msgspec.structs.replace(start, heartbeat_interval_s=heartbeat_interval_s), *rest])
    return start.job_id


def lost_between(detector: LostJobDetector, clock: Clock, job_id: str) -> tuple[int, int]:
    """The whole seconds after T0 (when the detector started) between which the job became lost."""
    for second in range(1, 1000):
        clock.now_ns = T0 + second * S
        if detector.check():
            assert detector.store.get(job_id).status == "lost"
            return second - 1, second
    raise AssertionError("never lost")


@pytest.mark.parametrize(
    ("heard_s", "window_s", "grace_s", "heartbeat_s", "lost_after_s"),
    [
        (-5, 600, 10, None, 10),  # restored, silent since: the restart grace, not the window
        (-5, 600, 10, 30, 60),  # ... or two of its heartbeat intervals, if longer
        (-5, 6, 10, None, 6),  # ... but never longer than its window
        (-700, 600, 10, None, 10),  # silent through a long outage: still given the grace to resend
        (3, 600, 10, None, 603),  # heard from after the restart: its window, as usual
        (3, 60, 10, 30, 93),  # ... three heartbeat intervals, when longer
    ],
)
async def test_when_a_silent_job_is_lost(heard_s, window_s, grace_s, heartbeat_s, lost_after_s):
    clock = Clock(T0)
    store = JobStore()
    detector = LostJobDetector(store, window_s, interval_s=3600, restart_grace_s=grace_s, clock_ns=clock)
    if heard_s < 0:
        job_id = running_job(store, T0 + heard_s * S, heartbeat_s)
    await detector.start()
    try:
        if heard_s > 0:
            job_id = running_job(store, T0 + heard_s * S, heartbeat_s)
        assert lost_between(detector, clock, job_id) == (lost_after_s, lost_after_s + 1)
    finally:
        await detector.stop()


async def test_on_a_bus_marks_are_published_not_folded_and_made_again_when_the_bus_refused_them():
    clock = Clock(T0)
    store = JobStore()
    published: list[list[JobEvent]] = []
    refuse = True

    async def publish(events: list[JobEvent]) -> None:
        if refuse:
            raise BusUnavailable("the event bus did not take the events: connection refused")
        published.append(events)

    detector = LostJobDetector(store, 60, interval_s=3600, restart_grace_s=10, clock_ns=clock, publish=publish)
    await detector.start()
    try:
        job_id = running_job(store, T0 + S)
        clock.now_ns = T0 + 62 * S
        assert await detector.check_through_bus() == []
        refuse = False
        assert await detector.check_through_bus() == [job_id]
    finally:
        await detector.stop()
    assert [(event.kind, event.job_id, event.seq) for (event,) in published] == [
        ("lost", job_id, store.get(job_id).max_seq)
    ]
    assert store.get(job_id).status == "running", "folded where the bus delivers it, not here"
