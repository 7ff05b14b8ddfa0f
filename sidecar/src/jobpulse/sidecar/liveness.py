"""LostJobDetector: declares a job ``lost`` when nothing has been heard from it for too long.

A job that dies without an end event (killed, host gone) would otherwise look "running" forever.
The window is the longer of the configured one and three of the job's own heartbeat intervals. If the
job speaks again, its next event clears the status (the fold's rule), so a network blip heals itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from jobpulse.sidecar.model.events import KIND_LOST, JobEvent
from jobpulse.sidecar.model.state import LOST, JobState
from jobpulse.sidecar.printable import printable
from jobpulse.sidecar.store import JobStore
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.liveness")


class LostJobDetector:
    """Checks active jobs every ``interval_s`` against their heartbeat window."""

    def __init__(
        self,
        store: JobStore,
        window_s: float,
        interval_s: float,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store
        self.window_s = window_s
        self.interval_s = interval_s
        self.clock_ns = clock_ns
        self._tasks = BackgroundTasks()

    def window_ns(self, state: JobState) -> int:
        window = self.window_s
        if state.heartbeat_interval_s:
            window = max(window, 3 * state.heartbeat_interval_s)
        return int(window * 1e9)

    def check(self) -> list[str]:
        """Mark every silent active job lost; return their ids."""
        now_ns = self.clock_ns()
        lost = []
        for state in self.store.active():
            if state.status == LOST or not state.last_seen_ns:
                continue
            if now_ns - state.last_seen_ns > self.window_ns(state):
                event = JobEvent(kind=KIND_LOST, job_id=state.id, seq=state.max_seq, time_ns=now_ns)
                if self.store.apply(event) is not None:
                    lost.append(state.id)
        if lost:
            log.warning(
                "no sign of life from %d job(s), marked lost: %s", len(lost), ", ".join(map(printable, lost[:10]))
            )
        return lost

    async def start(self) -> None:
        self._tasks.every(self.interval_s, self.check, "lost-job check")

    async def stop(self) -> None:
        await self._tasks.cancel()
