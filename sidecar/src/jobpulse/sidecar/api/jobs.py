"""``/api/jobs``: job list, detail, status, metrics and logs."""

from __future__ import annotations

import base64
import time
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter

from jobpulse.sidecar.model import views
from jobpulse.sidecar.model.events import LEVEL_NUMBERS
from jobpulse.sidecar.model.state import JobState
from jobpulse.sidecar.store import JobStore

JobStatus = Literal["pending", "running", "paused", "completed", "failed", "cancelled", "lost"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
Limit = Annotated[int, Parameter(ge=1, le=500, description="Page size")]


class JobPage(msgspec.Struct):
    """A page of jobs; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[views.JobSummary]
    total: int
    next_cursor: str | None


class LogPage(msgspec.Struct):
    """A page of log lines, oldest first."""

    items: list[views.LogView]
    total: int
    next_cursor: str | None


def find_job(store: JobStore, job_id: str) -> JobState:
    """The job's state, or a 404 naming the id."""
    state = store.get(job_id)
    if state is None:
        raise NotFoundException(detail=f"job '{job_id}' not found")
    return state


def _ns(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1e9)


def _started(state: JobState) -> int:
    started = state.started_ns if state.started_ns is not None else state.first_ns
    return started or 0


def _encode_cursor(started: int, job_id: str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([started, job_id])).decode()


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        started, job_id = msgspec.json.decode(base64.urlsafe_b64decode(cursor.encode()), type=tuple[int, str])
    except (ValueError, msgspec.DecodeError):
        raise ValidationException(detail=f"cursor: {cursor!r} is not a cursor this server issued") from None
    return started, job_id


def matches(
    state: JobState,
    statuses: list[str] | None,
    job_type: str | None,
    name: str | None,
    owner: str | None,
) -> bool:
    """Whether ``state`` passes the common job filters (name matches as a case-insensitive substring)."""
    if statuses and state.status not in statuses:
        return False
    if job_type is not None and state.job_type != job_type:
        return False
    if owner is not None and state.owner != owner:
        return False
    return name is None or (state.name is not None and name.lower() in state.name.lower())


class JobsController(Controller):
    """Jobs known to this sidecar."""

    path = "/api/jobs"
    tags = ["jobs"]

    @get("/", summary="List jobs, newest first")
    async def list_jobs(
        self,
        store: JobStore,
        status: Annotated[list[JobStatus] | None, Parameter(description="Repeat for several")] = None,
        job_type: str | None = None,
        name: Annotated[str | None, Parameter(description="Case-insensitive substring")] = None,
        owner: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        limit: Limit = 50,
        cursor: str | None = None,
    ) -> JobPage:
        after, before = _ns(started_after), _ns(started_before)
        selected = [
            state
            for state in store
            if matches(state, status, job_type, name, owner)
            and (after is None or _started(state) >= after)
            and (before is None or _started(state) < before)
        ]
        selected.sort(key=lambda state: (_started(state), state.id), reverse=True)
        total = len(selected)
        if cursor is not None:
            position = _decode_cursor(cursor)
            selected = [state for state in selected if (_started(state), state.id) < position]
        page = selected[:limit]
        now_ns = time.time_ns()
        next_cursor = None
        if len(selected) > limit:
            next_cursor = _encode_cursor(_started(page[-1]), page[-1].id)
        return JobPage(items=[views.summary(state, now_ns) for state in page], total=total, next_cursor=next_cursor)

    @get("/{job_id:str}", summary="Everything about one job")
    async def get_job(self, store: JobStore, job_id: str) -> views.JobDetail:
        return views.detail(find_job(store, job_id), time.time_ns())

    @get("/{job_id:str}/status", summary="Progress, current step and execution figures")
    async def get_status(self, store: JobStore, job_id: str) -> views.JobStatusView:
        return views.status_view(find_job(store, job_id), time.time_ns())

    @get("/{job_id:str}/metrics", summary="Execution time, records, errors, rate, memory and CPU")
    async def get_metrics(self, store: JobStore, job_id: str) -> views.JobMetricsView:
        return views.metrics_view(find_job(store, job_id), time.time_ns())

    @get("/{job_id:str}/logs", summary="The job's log lines, oldest first")
    async def get_logs(
        self,
        store: JobStore,
        job_id: str,
        level: Annotated[LogLevel | None, Parameter(description="Minimum level")] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Limit = 100,
    ) -> LogPage:
        state = find_job(store, job_id)
        minimum = LEVEL_NUMBERS[level] if level else 0
        low, high = _ns(since), _ns(until)
        lines = [
            views.log_view(line)
            for line in state.logs
            if LEVEL_NUMBERS.get(line.level, 1) >= minimum
            and (low is None or line.time_ns >= low)
            and (high is None or line.time_ns < high)
        ]
        return LogPage(items=lines[-limit:], total=len(lines), next_cursor=None)
