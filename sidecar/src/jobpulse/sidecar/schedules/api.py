"""``/api/monitor/schedules``: every scheduled job name or type, when its next run is due, and its last run."""

from __future__ import annotations

import time
from datetime import datetime

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency

from jobpulse.sidecar.auth.roles import VIEWER, access
from jobpulse.sidecar.schedules.book import ScheduleBook, ScheduleStatus
from jobpulse.sidecar.timestamps import to_datetime


class LastRunView(msgspec.Struct):
    """The latest run of a scheduled name or type, and its status now (running, completed, failed...)."""

    job_id: str
    started_at: datetime
    status: str


class ScheduleView(msgspec.Struct):
    """One schedule: the jobs it is about, when they run, where it comes from, and how they keep to it.

    ``state`` is ``ok`` before ``expected_at``, ``late`` from then until ``grace_ends_at``, and
    ``missed`` after that while no run has started (job_missed fires).
    """

    name: str
    match: str
    source: str
    cron: str | None
    every_s: float | None
    timezone: str
    grace_s: float
    since: datetime
    state: str
    expected_at: datetime
    grace_ends_at: datetime
    last_run: LastRunView | None


class Schedules(msgspec.Struct):
    """The schedules in force, by match and name."""

    schedules: list[ScheduleView]


def schedule_view(status: ScheduleStatus) -> ScheduleView:
    schedule, last, found = status
    return ScheduleView(
        name=schedule.name,
        match=schedule.match,
        source=schedule.source,
        cron=schedule.cron,
        every_s=schedule.every_s,
        timezone=schedule.timezone,
        grace_s=schedule.grace_s,
        since=to_datetime(schedule.since_ns),
        state=found.state,
        expected_at=to_datetime(found.expected_ns),
        grace_ends_at=to_datetime(found.deadline_ns),
        last_run=LastRunView(last.job_id, to_datetime(last.started_ns), last.status) if last else None,
    )


class SchedulesController(Controller):
    """The schedules in force now."""

    path = "/api/monitor"
    tags = ["monitor"]
    opt = access(VIEWER)

    @get("/schedules", summary="Scheduled job names and types: next expected run, last run, ok, late or missed")
    async def schedules(self, schedule_book: NamedDependency[ScheduleBook]) -> Schedules:
        return Schedules([schedule_view(status) for status in schedule_book.statuses(time.time_ns())])
