"""A schedule's state as a pure function of stored facts: when it was set, the last start, and now.

The run a schedule waits for is the first one due after the later of the last start and the moment
the schedule was configured or learned (so a new schedule never counts runs from before it existed).
Before that time the schedule is ``ok``; from then until the grace has passed it is ``late``; after
that, with still no start, ``missed``. A start moves the anchor, so the next due time follows it.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from jobpulse.schedules import next_fire_ns

OK = "ok"
LATE = "late"
MISSED = "missed"

CONFIG = "config"
LEARNED = "learned"

_NS = 1_000_000_000


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """A schedule in force, from the settings (``config``) or from a job's start (``learned``)."""

    name: str
    match: str
    source: str
    cron: str | None = None
    every_s: float | None = None
    timezone: str = "UTC"
    grace_s: float
    # When it was configured or learned.
    since_ns: int

    def same_timing(self, other: Schedule) -> bool:
        """Whether ``other`` expects runs at the same times with the same grace."""
        return (self.cron, self.every_s, self.timezone, self.grace_s) == (
            other.cron,
            other.every_s,
            other.timezone,
            other.grace_s,
        )


class Due(NamedTuple):
    """The run a schedule waits for: when it is due, when its grace ends, and the state now."""

    expected_ns: int
    deadline_ns: int
    state: str


def next_run_ns(schedule: Schedule, after_ns: int) -> int:
    """The first time a run is due strictly after ``after_ns``."""
    if schedule.cron is not None:
        return next_fire_ns(schedule.cron, schedule.timezone, after_ns)
    assert schedule.every_s is not None
    return after_ns + int(schedule.every_s * _NS)


def due(schedule: Schedule, last_start_ns: int | None, now_ns: int) -> Due:
    """The state of ``schedule`` at ``now_ns``, given its last run's start (None: none known)."""
    anchor_ns = max(last_start_ns or 0, schedule.since_ns)
    expected_ns = next_run_ns(schedule, anchor_ns)
    deadline_ns = expected_ns + int(schedule.grace_s * _NS)
    state = OK if now_ns < expected_ns else LATE if now_ns <= deadline_ns else MISSED
    return Due(expected_ns, deadline_ns, state)
