"""LostJobDetector: declares a job ``lost`` when nothing has been heard from it for too long.

A job that dies without an end event (killed, host gone) would otherwise look "running" forever.
The window is the longer of the configured one and three of the job's own heartbeat intervals. If the
job speaks again, its next event clears the status (the fold's rule), so a network blip heals itself.

A job restored from history after a restart and not heard from since gets a shorter wait, the restart
grace: a live job resends as soon as its retry backoff or its next heartbeat comes round, so a sender
that stays silent that long after the sidecar came back is gone (killed with the sidecar, or while it
was down), and waiting out the whole window would only keep a dead job "running".

A pending job (queued, not started) is never lost: it has no process to heartbeat yet, and may wait
in its queue for hours. The ``queue_wait`` alert watches jobs that wait too long.

On a bus (``publish``) the marks are published to the stream like ingested events rather than folded
here, so every replica folds each mark from the same entry and stamps its feed message with that
entry's cursor: a client resuming on another replica misses no mark. Every replica's detector judges
the same heard-from times, so several may publish a mark for the same job; the fold keeps the first
(a mark at a seq already marked changes nothing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from jobpulse.sidecar.ingest.receiver import BusUnavailable, Publish
from jobpulse.sidecar.model.events import KIND_LOST, JobEvent
from jobpulse.sidecar.model.state import LOST, PENDING, JobState
from jobpulse.sidecar.printable import printable
from jobpulse.sidecar.store import JobStore
from jobpulse.sidecar.tasks import BackgroundTasks

if TYPE_CHECKING:
    from jobpulse.sidecar.settings import Settings

log = logging.getLogger("jobpulse.sidecar.lost_jobs")


class LostJobDetector:
    """Checks active jobs every ``interval_s`` against their heartbeat window."""

    def __init__(
        self,
        store: JobStore,
        window_s: float,
        interval_s: float,
        restart_grace_s: float,
        clock_ns: Callable[[], int] = time.time_ns,
        publish: Publish | None = None,
    ) -> None:
        """``publish``: where marks go when replicas share a bus (None: fold them here)."""
        self.store = store
        self.publish = publish
        self.window_s = window_s
        self.interval_s = interval_s
        self.restart_grace_s = restart_grace_s
        self.clock_ns = clock_ns
        # When this sidecar began to listen for jobs (set by start); heard-from times before it
        # belong to jobs restored from history.
        self.started_ns = 0
        self._tasks = BackgroundTasks()

    def reconfigure(self, settings: Settings) -> None:
        """New windows apply at the next check, a new interval from the next wait."""
        self.window_s = settings.heartbeat_window_s
        self.interval_s = settings.lost_check_interval_s
        self.restart_grace_s = settings.restart_grace_s

    def window_ns(self, state: JobState) -> int:
        window = self.window_s
        if state.heartbeat_interval_s:
            window = max(window, 3 * state.heartbeat_interval_s)
        return int(window * 1e9)

    def grace_ns(self, state: JobState) -> int:
        """How long after start-up a restored job may stay silent: the restart grace, or two of its
        heartbeat intervals if longer, never more than its window."""
        grace = self.restart_grace_s
        if state.heartbeat_interval_s:
            grace = max(grace, 2 * state.heartbeat_interval_s)
        return min(int(grace * 1e9), self.window_ns(state))

    def deadline_ns(self, state: JobState) -> int:
        """When ``state`` becomes lost if nothing more is heard from it."""
        if state.last_seen_ns >= self.started_ns:
            return state.last_seen_ns + self.window_ns(state)
        return self.started_ns + self.grace_ns(state)

    def marks(self) -> list[JobEvent]:
        """A ``lost`` event for every silent active job."""
        now_ns = self.clock_ns()
        return [
            JobEvent(kind=KIND_LOST, job_id=state.id, seq=state.max_seq, time_ns=now_ns)
            for state in self.store.active()
            if state.status not in (LOST, PENDING) and state.last_seen_ns and now_ns > self.deadline_ns(state)
        ]

    def check(self) -> list[str]:
        """Mark every silent active job lost, here; return their ids."""
        lost = [event.job_id for event in self.marks() if self.store.apply(event) is not None]
        if lost:
            log.warning("no sign of life from %d job(s), marked lost: %s", len(lost), _some(lost))
        return lost

    async def check_through_bus(self) -> list[str]:
        """Publish a mark for every silent active job; return their ids. A mark the bus did not take is
        made again at the next check, as the job is still silent then."""
        assert self.publish is not None
        marks = self.marks()
        if not marks:
            return []
        lost = [event.job_id for event in marks]
        try:
            await self.publish(marks)
        except BusUnavailable as error:
            log.warning("could not publish the lost marks of %d job(s), trying again: %s", len(lost), error)
            return []
        log.warning("no sign of life from %d job(s), marking them lost: %s", len(lost), _some(lost))
        return lost

    async def start(self) -> None:
        self.started_ns = self.clock_ns()
        step = self.check if self.publish is None else self.check_through_bus
        self._tasks.every(lambda: self.interval_s, step, "lost-job check")

    async def stop(self) -> None:
        await self._tasks.cancel()


def _some(job_ids: list[str]) -> str:
    return ", ".join(map(printable, job_ids[:10]))
