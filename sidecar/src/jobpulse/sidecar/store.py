"""JobStore: the in-memory table of job states, fed one event at a time through the fold.

Everything that reacts to jobs (the live feed, history, alerting, metrics) listens here, so an event
is decoded once, folded once and announced once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.model.fold import DEFAULT_LIMITS, FoldLimits, fold
from jobpulse.sidecar.model.state import JobState

if TYPE_CHECKING:
    from jobpulse.sidecar.settings import Settings


class JobChange(NamedTuple):
    """One applied event: the state before (None for a new job) and after."""

    old: JobState | None
    new: JobState
    event: JobEvent


Listener = Callable[[JobChange], None]


class JobStore:
    """Job states by id. Finished jobs stay for a while, bounded by ``finished_capacity``."""

    def __init__(self, limits: FoldLimits = DEFAULT_LIMITS, finished_capacity: int = 10_000) -> None:
        self.limits = limits
        self.finished_capacity = finished_capacity
        self._jobs: dict[str, JobState] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        # Ids of finished jobs evicted from memory: late or replayed events for them are dropped
        # instead of resurrecting a partial job.
        self._evicted: OrderedDict[str, None] = OrderedDict()
        self._listeners: list[Listener] = []
        self.events_applied = 0
        self.events_unchanged = 0
        self.events_late = 0

    def reconfigure(self, settings: Settings) -> None:
        """New limits: lines kept per job from its next line, finished jobs kept from the next that ends."""
        if settings.recent_logs_per_job != self.limits.recent_logs:
            self.limits = msgspec.structs.replace(self.limits, recent_logs=settings.recent_logs_per_job)
        self.finished_capacity = settings.finished_jobs_in_memory

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def __len__(self) -> int:
        return len(self._jobs)

    def get(self, job_id: str) -> JobState | None:
        return self._jobs.get(job_id)

    def active(self) -> list[JobState]:
        """Jobs that have not ended."""
        return [state for state in self._jobs.values() if not state.is_terminal]

    def apply(self, event: JobEvent) -> JobState | None:
        """Fold ``event`` in; return the new state, or None when nothing changed."""
        job_id = event.job_id
        old = self._jobs.get(job_id)
        if old is None and job_id in self._evicted:
            self.events_late += 1
            return None
        new = fold(old, event, self.limits)
        if new is old:
            self.events_unchanged += 1
            return None
        self.events_applied += 1
        self._jobs[job_id] = new
        if new.is_terminal and (old is None or not old.is_terminal):
            self._retire(job_id)
        change = JobChange(old, new, event)
        for listener in self._listeners:
            listener(change)
        return new

    def apply_all(self, events: Iterable[JobEvent]) -> int:
        """Apply several events; return how many changed something."""
        return sum(1 for event in events if self.apply(event) is not None)

    def restore(self, state: JobState) -> None:
        """Put a state back without announcing it (rebuilding memory at start-up)."""
        self._jobs[state.id] = state
        if state.is_terminal:
            self._retire(state.id)

    def _retire(self, job_id: str) -> None:
        self._finished[job_id] = None
        while len(self._finished) > self.finished_capacity:
            evicted, _ = self._finished.popitem(last=False)
            self._jobs.pop(evicted, None)
            self._evicted[evicted] = None
            if len(self._evicted) > self.finished_capacity * 10:
                self._evicted.popitem(last=False)
