"""JobStore: the in-memory table of job states, fed one event at a time through the fold.

Everything that reacts to jobs (the live feed, history, alerting, metrics) listens here, so an event
is decoded once, folded once and announced once. Listeners are isolated from each other and from
whoever applied the event: one that raises is logged and counted, and the others still hear the change.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from jobpulse.sidecar.model.events import SIDECAR_KINDS, JobEvent
from jobpulse.sidecar.model.fold import DEFAULT_LIMITS, FoldLimits, fold
from jobpulse.sidecar.model.state import JobState
from jobpulse.sidecar.printable import printable

if TYPE_CHECKING:
    from jobpulse.sidecar.settings import Settings

log = logging.getLogger("jobpulse.sidecar.store")

# A listener that fails on every event is logged at most this often (with how many failures were not).
FAILURE_LOG_INTERVAL_S = 60.0


class JobChange(NamedTuple):
    """One applied event: the state before (None for a new job) and after."""

    old: JobState | None
    new: JobState
    event: JobEvent


Listener = Callable[[JobChange], None]


class _Subscription:
    """A listener, the name its failures are counted under, and when its next failure may be logged."""

    __slots__ = ("listener", "log_after", "name", "unlogged")

    def __init__(self, listener: Listener, name: str) -> None:
        self.listener = listener
        self.name = name
        self.log_after = 0.0
        self.unlogged = 0


class JobStore:
    """Job states by id. Finished jobs stay for a while, bounded by ``finished_capacity``."""

    def __init__(
        self,
        limits: FoldLimits = DEFAULT_LIMITS,
        finished_capacity: int = 10_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.finished_capacity = finished_capacity
        self.clock = clock
        self._jobs: dict[str, JobState] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        # Ids of finished jobs evicted from memory: late or replayed events for them are dropped
        # instead of resurrecting a partial job.
        self._evicted: OrderedDict[str, None] = OrderedDict()
        self._subscriptions: list[_Subscription] = []
        self.events_applied = 0
        self.events_unchanged = 0
        self.events_late = 0
        self.listener_failures: dict[str, int] = {}
        """Changes each listener raised on, by listener name; every listener has an entry from when it is added."""

    def reconfigure(self, settings: Settings) -> None:
        """New limits: lines kept per job from its next line, finished jobs kept from the next that ends."""
        if settings.recent_logs_per_job != self.limits.recent_logs:
            self.limits = msgspec.structs.replace(self.limits, recent_logs=settings.recent_logs_per_job)
        self.finished_capacity = settings.finished_jobs_in_memory

    def add_listener(self, listener: Listener, name: str | None = None) -> None:
        """Call ``listener`` with every change from now on, after the listeners added before it.

        Its failures are counted under ``name`` (default: its qualified name, e.g. ``FeedHub.on_change``).
        """
        name = name or getattr(listener, "__qualname__", type(listener).__name__)
        self._subscriptions.append(_Subscription(listener, name))
        self.listener_failures.setdefault(name, 0)

    def remove_listener(self, listener: Listener) -> None:
        for subscription in self._subscriptions:
            if subscription.listener == listener:
                self._subscriptions.remove(subscription)
                return
        raise ValueError(f"{listener!r} is not listening")

    def listeners(self) -> list[tuple[str, Listener]]:
        """The listeners by name, in the order they are called."""
        return [(subscription.name, subscription.listener) for subscription in self._subscriptions]

    def __len__(self) -> int:
        return len(self._jobs)

    def get(self, job_id: str) -> JobState | None:
        return self._jobs.get(job_id)

    def active(self) -> list[JobState]:
        """Jobs that have not ended."""
        return [state for state in self._jobs.values() if not state.is_terminal]

    def states(self) -> list[JobState]:
        """Every job in memory: those that have not ended and those that ended lately."""
        return list(self._jobs.values())

    def apply(self, event: JobEvent) -> JobState | None:
        """Fold ``event`` in; return the new state, or None when nothing changed.

        Only a job's own events make a job: the sidecar's (``SIDECAR_KINDS``) about a job not in
        memory change nothing. The job's state lives with whoever hears from it, a replica sharing
        the database, say; a state made here would have none of its facts and never end.
        """
        job_id = event.job_id
        old = self._jobs.get(job_id)
        if old is None:
            if job_id in self._evicted:
                self.events_late += 1
                return None
            if event.kind in SIDECAR_KINDS:
                self.events_unchanged += 1
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
        for subscription in self._subscriptions:
            try:
                subscription.listener(change)
            except Exception:
                self._listener_failed(subscription, change)
        return new

    def apply_all(self, events: Iterable[JobEvent]) -> int:
        """Apply several events; return how many changed something."""
        return sum(1 for event in events if self.apply(event) is not None)

    def restore(self, state: JobState) -> None:
        """Put a state back without announcing it (rebuilding memory at start-up)."""
        self._jobs[state.id] = state
        if state.is_terminal:
            self._retire(state.id)

    def _listener_failed(self, subscription: _Subscription, change: JobChange) -> None:
        """Count the failure; log it with its traceback unless this listener was logged too recently."""
        self.listener_failures[subscription.name] += 1
        now = self.clock()
        if now < subscription.log_after:
            subscription.unlogged += 1
            return
        unlogged = f" ({subscription.unlogged} earlier failure(s) not logged)" if subscription.unlogged else ""
        log.exception(
            "store listener %s failed on a %s event of job %s; the other listeners had the change%s",
            subscription.name,
            change.event.kind,
            printable(change.new.id),
            unlogged,
        )
        subscription.log_after = now + FAILURE_LOG_INTERVAL_S
        subscription.unlogged = 0

    def _retire(self, job_id: str) -> None:
        self._finished[job_id] = None
        while len(self._finished) > self.finished_capacity:
            evicted, _ = self._finished.popitem(last=False)
            self._jobs.pop(evicted, None)
            self._evicted[evicted] = None
            if len(self._evicted) > self.finished_capacity * 10:
                self._evicted.popitem(last=False)
