"""``/api/monitor/jobs``: what is running now."""

from __future__ import annotations

import time
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from jobpulse.sidecar import schemas
from jobpulse.sidecar.auth.roles import VIEWER, access
from jobpulse.sidecar.jobs.api import JobStatus
from jobpulse.sidecar.model.state import JobState
from jobpulse.sidecar.settings import Settings
from jobpulse.sidecar.store import JobStore


def matches(
    state: JobState, statuses: list[str] | None, job_type: str | None, name: str | None, owner: str | None
) -> bool:
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


class MonitorController(Controller):
    """The jobs running now."""

    path = "/api/monitor"
    tags = ["monitor"]
    opt = access(VIEWER)

    @get("/jobs", summary="Active jobs, with filters")
    async def active_jobs(
        self,
        store: NamedDependency[JobStore],
        settings: NamedDependency[Settings],
        status: Annotated[list[JobStatus] | None, QueryParameter(description="Repeat for several")] = None,
        job_type: FromQuery[str | None] = None,
        name: FromQuery[str | None] = None,
        owner: FromQuery[str | None] = None,
    ) -> ActiveJobs:
        now_ns = time.time_ns()
        states = [state for state in store.active() if matches(state, status, job_type, name, owner)]
        states.sort(key=lambda state: state.last_ns or 0, reverse=True)
        items = [schemas.summary(state, now_ns, settings.control_ack_timeout_s) for state in states]
        return ActiveJobs(count=len(items), items=items)
