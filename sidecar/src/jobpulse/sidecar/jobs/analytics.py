"""``/api/analytics``: how job types, names and steps fare over time."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromQuery

from jobpulse.sidecar.api.bounds import INT64_MIN, bound_ns
from jobpulse.sidecar.auth.roles import VIEWER, access
from jobpulse.sidecar.history.analytics import Analytics, StepAnalytics
from jobpulse.sidecar.history.service import History

_WEEK_NS = 7 * 86400 * 10**9


def _period(since: datetime | None, until: datetime | None) -> tuple[int, int]:
    until_ns = bound_ns(until) or time.time_ns()
    since_ns = bound_ns(since) if since is not None else max(until_ns - _WEEK_NS, INT64_MIN)
    if since_ns >= until_ns:
        raise ValidationException(detail=f"since ({since}) must be before until ({until})")
    return since_ns, until_ns


class AnalyticsController(Controller):
    """Success rates, durations, throughput, trends and error patterns."""

    path = "/api/analytics"
    tags = ["analytics"]
    opt = access(VIEWER)

    @get("/", summary="Per job type (or name): success rate, duration percentiles, throughput, trend, errors")
    async def job_analytics(
        self,
        history: NamedDependency[History],
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        group_by: FromQuery[Literal["job_type", "name"]] = "job_type",
        bucket: FromQuery[Literal["hour", "day"]] = "day",
    ) -> Analytics:
        since_ns, until_ns = _period(since, until)
        return await history.analytics(since_ns=since_ns, until_ns=until_ns, group_by=group_by, bucket=bucket)

    @get("/steps", summary="Per-step durations of one job name: which step is the bottleneck")
    async def step_analytics(
        self,
        history: NamedDependency[History],
        name: FromQuery[str],
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
    ) -> StepAnalytics:
        since_ns, until_ns = _period(since, until)
        return await history.step_analytics(job_name=name, since_ns=since_ns, until_ns=until_ns)
