"""``/api/jobs``: job history with search, detail, status, metrics and logs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from jobpulse.sidecar import schemas
from jobpulse.sidecar.api.bounds import INT64_MAX, INT64_MIN, bound_ns
from jobpulse.sidecar.api.openapi import TEXT, success_content
from jobpulse.sidecar.api.paging import Limit
from jobpulse.sidecar.auth.roles import VIEWER, access
from jobpulse.sidecar.history import queries
from jobpulse.sidecar.history.service import History
from jobpulse.sidecar.model.events import LEVEL_NUMBERS, LEVELS
from jobpulse.sidecar.model.state import STATUSES, JobState
from jobpulse.sidecar.printable import control_character
from jobpulse.sidecar.settings import Settings
from jobpulse.sidecar.timestamps import to_datetime

# Built from the statuses the fold knows, so the filter and its OpenAPI enum cannot drift from them.
JobStatus = Literal[STATUSES]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
Sort = Literal["-started_at", "started_at", "-ended_at", "ended_at", "-duration", "duration", "-name", "name"]


class JobPage(msgspec.Struct):
    """A page of jobs; pass ``next_cursor`` back as ``cursor`` for the next one.

    ``total`` counts the matching jobs exactly up to 10,000; beyond that ``total_exact`` is false and
    ``total`` is 10,000 ("10,000 or more").
    """

    items: list[schemas.JobSummary]
    total: int
    total_exact: bool
    next_cursor: str | None


class LogPage(msgspec.Struct):
    """A page of log lines in seq order; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[schemas.LogView]
    total: int
    next_cursor: str | None


async def find_job(history: History, job_id: str) -> JobState:
    """The job's state, or a 404 naming the id."""
    state = await history.get_state(job_id)
    if state is None:
        raise NotFoundException(detail=f"job '{job_id}' not found")
    return state


def search_text(field: str, value: str | None) -> str | None:
    """``value`` of search parameter ``field``, refused (400) when it holds a control character.

    No one searches for a job by its control characters, and SQLite's LIKE ends a pattern at a NUL,
    so ``name=%00`` used to match every named job.
    """
    if value is not None and (character := control_character(value)) is not None:
        message = f"control character {character!r} is not allowed in a search"
        raise ValidationException(
            detail=f"{field}: {message}", extra=[{"key": field, "message": message, "source": "query"}]
        )
    return value


def _log_view(row: dict[str, Any]) -> schemas.LogView:
    return schemas.LogView(
        seq=row["seq"],
        time=to_datetime(row["time_ns"]),
        level=LEVELS[row["level"]],
        message=row["message"],
        logger=row["logger"],
        attributes=msgspec.json.decode(row["attributes"]) if row["attributes"] else None,
    )


def _log_filter(
    level: str | None, since: datetime | None, until: datetime | None, q: str | None, cursor: str | None
) -> queries.LogFilter:
    after = -1
    if cursor is not None:
        try:
            after = int(cursor)
        except ValueError:
            after = INT64_MAX + 1
        if not INT64_MIN <= after <= INT64_MAX:
            raise ValidationException(detail=f"cursor: {cursor!r} is not a log cursor (a seq number)")
    return queries.LogFilter(
        min_level=LEVEL_NUMBERS[level] if level else 0,
        since_ns=bound_ns(since),
        until_ns=bound_ns(until),
        text=search_text("q", q),
        after_seq=after,
    )


class JobsController(Controller):
    """Jobs, live and past."""

    path = "/api/jobs"
    tags = ["jobs"]
    opt = access(VIEWER)

    @get("/", summary="Search job history")
    async def list_jobs(
        self,
        history: NamedDependency[History],
        settings: NamedDependency[Settings],
        status: Annotated[list[JobStatus] | None, QueryParameter(description="Repeat for several")] = None,
        job_type: FromQuery[str | None] = None,
        name: Annotated[str | None, QueryParameter(description="Case-insensitive substring of the name")] = None,
        name_prefix: FromQuery[str | None] = None,
        owner: FromQuery[str | None] = None,
        q: Annotated[str | None, QueryParameter(description="Free text over name and error message")] = None,
        started_after: FromQuery[datetime | None] = None,
        started_before: FromQuery[datetime | None] = None,
        ended_after: FromQuery[datetime | None] = None,
        ended_before: FromQuery[datetime | None] = None,
        min_duration_s: Annotated[float | None, QueryParameter(ge=0)] = None,
        max_duration_s: Annotated[float | None, QueryParameter(ge=0)] = None,
        sort: FromQuery[Sort] = "-started_at",
        limit: Limit = 50,
        cursor: FromQuery[str | None] = None,
    ) -> JobPage:
        job_filter = queries.JobFilter(
            statuses=list(status) if status else None,
            job_type=job_type,
            name=search_text("name", name),
            name_prefix=search_text("name_prefix", name_prefix),
            owner=owner,
            text=search_text("q", q),
            started_after=bound_ns(started_after),
            started_before=bound_ns(started_before),
            ended_after=bound_ns(ended_after),
            ended_before=bound_ns(ended_before),
            min_duration_s=min_duration_s,
            max_duration_s=max_duration_s,
        )
        try:
            page = await history.list_jobs(job_filter, sort=sort, limit=limit, cursor=cursor)
        except queries.CursorError as error:
            raise ValidationException(detail=f"cursor: {error}") from None
        now_ns = time.time_ns()
        return JobPage(
            items=[schemas.summary(state, now_ns, settings.control_ack_timeout_s) for state in page.states],
            total=page.total,
            total_exact=page.total_exact,
            next_cursor=page.next_cursor,
        )

    @get("/{job_id:str}", summary="Everything about one job", raises=[NotFoundException])
    async def get_job(
        self, history: NamedDependency[History], settings: NamedDependency[Settings], job_id: FromPath[str]
    ) -> schemas.JobDetail:
        return schemas.detail(await find_job(history, job_id), time.time_ns(), settings.control_ack_timeout_s)

    @get("/{job_id:str}/status", summary="Progress, current step and execution figures", raises=[NotFoundException])
    async def get_status(self, history: NamedDependency[History], job_id: FromPath[str]) -> schemas.JobStatusView:
        return schemas.status_view(await find_job(history, job_id), time.time_ns())

    @get(
        "/{job_id:str}/metrics",
        summary="Execution time, records, errors, rate, memory and CPU",
        raises=[NotFoundException],
    )
    async def get_metrics(self, history: NamedDependency[History], job_id: FromPath[str]) -> schemas.JobMetricsView:
        return schemas.metrics_view(await find_job(history, job_id), time.time_ns())

    @get("/{job_id:str}/logs", summary="The job's log lines, in order", raises=[NotFoundException])
    async def get_logs(
        self,
        history: NamedDependency[History],
        job_id: FromPath[str],
        level: Annotated[LogLevel | None, QueryParameter(description="Minimum level")] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        q: Annotated[str | None, QueryParameter(description="Case-insensitive text in the message")] = None,
        limit: Limit = 100,
        cursor: FromQuery[str | None] = None,
    ) -> LogPage:
        await find_job(history, job_id)
        rows, total, more = await history.logs(job_id, _log_filter(level, since, until, q, cursor), limit)
        return LogPage(
            items=[_log_view(row) for row in rows],
            total=total,
            next_cursor=str(rows[-1]["seq"]) if more and rows else None,
        )

    @get(
        "/{job_id:str}/logs/download",
        summary="All of the job's log lines as NDJSON or plain text",
        raises=[NotFoundException],
        operation_class=success_content({"application/x-ndjson": TEXT, "text/plain": TEXT}),
    )
    async def download_logs(
        self,
        history: NamedDependency[History],
        job_id: FromPath[str],
        format: FromQuery[Literal["ndjson", "text"]] = "ndjson",
        level: Annotated[LogLevel | None, QueryParameter(description="Minimum level")] = None,
    ) -> Stream:
        await find_job(history, job_id)
        log_filter = _log_filter(level, None, None, None, None)
        encode = msgspec.json.Encoder().encode

        async def lines() -> AsyncIterator[bytes]:
            async for row in history.iter_logs(job_id, log_filter):
                view = _log_view(row)
                if format == "ndjson":
                    yield encode(view) + b"\n"
                else:
                    yield f"{view.time.isoformat()} {view.level.upper():8} {view.message}\n".encode()

        extension = "ndjson" if format == "ndjson" else "log"
        return Stream(
            lines(),
            media_type="application/x-ndjson" if format == "ndjson" else "text/plain",
            headers={"content-disposition": f'attachment; filename="{job_id}.{extension}"'},
        )
