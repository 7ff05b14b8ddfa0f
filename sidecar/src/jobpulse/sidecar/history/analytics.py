"""Analytics over job history: success rates, duration and queue-wait percentiles, throughput, trends,
error patterns and step bottlenecks.

Percentiles use the ``cume_dist()`` window function, which SQLite (3.25+) and PostgreSQL both have, so
the database does the sorting and one query serves both backends.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import BigInteger, ColumnElement, Float, Select, and_, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.conventions import STEP_FAILED
from jobpulse.sidecar.history.tables import job_steps, jobs
from jobpulse.sidecar.model.state import ACTIVE_STATUSES, CANCELLED, COMPLETED, FAILED, LOST, TERMINAL_STATUSES
from jobpulse.sidecar.timestamps import to_datetime

BUCKETS_NS = {"hour": 3600 * 10**9, "day": 86400 * 10**9}
GROUP_COLUMNS = {"job_type": jobs.c.job_type, "name": jobs.c.name}
# A group's runs split into completed, failed, cancelled, lost and active, which add up to the runs.
# To the sidecar a lost job is still active (it has not ended, and its next event clears the mark),
# but here it counts once, under lost, one of the outcomes the success rate is taken over: a run that
# went silent is no success. "active" is therefore the runs still going: pending, running, paused.
_IN_PROGRESS = tuple(sorted(ACTIVE_STATUSES - {LOST}))
_ENDED = tuple(sorted(TERMINAL_STATUSES | {LOST}))
_ERROR_NAMES_SHOWN = 5


class Durations(msgspec.Struct):
    """Percentiles of durations, seconds: of completed runs, of queue waits, of steps."""

    p50: float | None
    p95: float | None
    max: float | None
    mean: float | None


class TrendPoint(msgspec.Struct):
    """One time bucket of a group's runs.

    ``completed_runs`` over ``ended_runs`` is the bucket's success rate, taken as the group's
    ``success_rate`` is; ``failure_rate`` is over all its runs, those still going included.
    """

    bucket_start: datetime
    runs: int
    failed_runs: int
    failure_rate: float
    completed_runs: int
    ended_runs: int
    records_processed: int
    records_failed: int
    record_error_rate: float | None


class GroupStats(msgspec.Struct):
    """Figures for one job type (or name) over the period."""

    key: str | None
    runs: int
    completed: int
    failed: int
    cancelled: int
    lost: int
    active: int
    success_rate: float | None
    duration_s: Durations
    # How long the group's queued jobs waited before they started (or ended unstarted).
    waited: int
    wait_s: Durations
    records_processed: int
    records_failed: int
    records_per_s: float | None
    trend: list[TrendPoint]


class ErrorPattern(msgspec.Struct):
    """Failed runs sharing an exception type."""

    error_type: str | None
    count: int
    last_seen: datetime | None
    example_message: str | None
    job_names: list[str]


class Analytics(msgspec.Struct):
    """``GET /api/analytics``."""

    since: datetime
    until: datetime
    group_by: str
    bucket: str
    groups: list[GroupStats]
    errors: list[ErrorPattern]


class StepStats(msgspec.Struct):
    """Durations of one step of a job, over its runs in the period."""

    name: str
    index: int | None
    runs: int
    failed: int
    duration_s: Durations
    share_of_total: float | None
    bottleneck: bool


class StepAnalytics(msgspec.Struct):
    """``GET /api/analytics/steps``: which step of a job takes the time."""

    job_name: str
    since: datetime
    until: datetime
    steps: list[StepStats]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _total(value: ColumnElement[int]) -> ColumnElement[int]:
    # PostgreSQL sums bigints into numeric (Decimal in Python); these totals fit a bigint.
    return cast(func.coalesce(func.sum(value), 0), BigInteger)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def percentiles(key: Any, value: Any, order_by: Any, *where: Any, fractions: tuple[float, ...] = (0.5, 0.95)) -> Select:
    """Per ``key``: the nearest-rank percentiles of ``value``, as columns ``p50``, ``p95``...

    ``cume_dist()`` exists on SQLite (3.25+) and PostgreSQL alike, so the database ranks.
    """
    ranked = (
        select(
            key.label("key"),
            value.label("value"),
            func.cume_dist().over(partition_by=key, order_by=order_by).label("rank"),
        )
        .where(*where)
        .subquery()
    )
    return select(
        ranked.c.key,
        *(
            func.min(case((ranked.c.rank >= fraction, ranked.c.value))).label(f"p{round(fraction * 100)}")
            for fraction in fractions
        ),
    ).group_by(ranked.c.key)


def _durations(ranks: Any, max_s: float | None, mean_s: float | None) -> Durations:
    return Durations(p50=ranks.p50 if ranks else None, p95=ranks.p95 if ranks else None, max=max_s, mean=mean_s)


async def job_analytics(
    engine: AsyncEngine, *, since_ns: int, until_ns: int, group_by: str = "job_type", bucket: str = "day"
) -> Analytics:
    """Analytics of the jobs that started in [since_ns, until_ns)."""
    key = GROUP_COLUMNS[group_by]
    bucket_ns = BUCKETS_NS[bucket]
    in_period = and_(jobs.c.started_ns >= since_ns, jobs.c.started_ns < until_ns)
    completed = jobs.c.status == COMPLETED
    totals = (
        select(
            key.label("key"),
            func.count().label("runs"),
            _count(completed).label("completed"),
            _count(jobs.c.status == FAILED).label("failed"),
            _count(jobs.c.status == CANCELLED).label("cancelled"),
            _count(jobs.c.status == LOST).label("lost"),
            _count(jobs.c.status.in_(_IN_PROGRESS)).label("active"),
            _total(jobs.c.processed).label("processed"),
            _total(jobs.c.failed).label("records_failed"),
            _total(case((completed, jobs.c.processed), else_=0)).label("completed_processed"),
            # Float casts: PostgreSQL sums and averages would otherwise come back as Decimal.
            cast(func.sum(case((completed, jobs.c.duration_s), else_=0.0)), Float).label("completed_seconds"),
            cast(func.max(case((completed, jobs.c.duration_s))), Float).label("max_duration"),
            cast(func.avg(case((completed, jobs.c.duration_s))), Float).label("mean_duration"),
            func.count(jobs.c.wait_s).label("waited"),
            cast(func.max(jobs.c.wait_s), Float).label("max_wait"),
            cast(func.avg(jobs.c.wait_s), Float).label("mean_wait"),
        )
        .where(in_period)
        .group_by(key)
    )
    duration_ranks = percentiles(
        key, jobs.c.duration_s, jobs.c.duration_s, in_period, completed, jobs.c.duration_s.is_not(None)
    )
    wait_ranks = percentiles(key, jobs.c.wait_s, jobs.c.wait_s, in_period, jobs.c.wait_s.is_not(None))
    bucket_of = (jobs.c.started_ns // bucket_ns).label("bucket")
    trend = (
        select(
            key.label("key"),
            bucket_of,
            func.count().label("runs"),
            _count(jobs.c.status == FAILED).label("failed"),
            _count(completed).label("completed"),
            _count(jobs.c.status.in_(_ENDED)).label("ended"),
            _total(jobs.c.processed).label("processed"),
            _total(jobs.c.failed).label("records_failed"),
        )
        .where(in_period)
        .group_by(key, bucket_of)
        .order_by(key, bucket_of)
    )
    failed_in_period = and_(in_period, jobs.c.status == FAILED)
    errors = (
        select(
            jobs.c.error_type,
            func.count().label("count"),
            func.max(jobs.c.ended_ns).label("last"),
            func.max(jobs.c.error_message).label("example"),
        )
        .where(failed_in_period)
        .group_by(jobs.c.error_type)
        .order_by(func.count().desc())
        .limit(50)
    )
    error_names = (
        select(jobs.c.error_type, jobs.c.name, func.count().label("count"))
        .where(failed_in_period)
        .group_by(jobs.c.error_type, jobs.c.name)
        .order_by(func.count().desc())
    )
    async with engine.connect() as connection:
        total_rows = (await connection.execute(totals)).all()
        percentile_rows = {row.key: row for row in await connection.execute(duration_ranks)}
        wait_rows = {row.key: row for row in await connection.execute(wait_ranks)}
        trend_rows = (await connection.execute(trend)).all()
        error_rows = (await connection.execute(errors)).all()
        name_rows = (await connection.execute(error_names)).all()

    points: dict[str | None, list[TrendPoint]] = defaultdict(list)
    for row in trend_rows:
        points[row.key].append(
            TrendPoint(
                bucket_start=to_datetime(row.bucket * bucket_ns),
                runs=row.runs,
                failed_runs=row.failed,
                failure_rate=round(row.failed / row.runs, 6),
                completed_runs=row.completed,
                ended_runs=row.ended,
                records_processed=row.processed,
                records_failed=row.records_failed,
                record_error_rate=_rate(row.records_failed, row.processed),
            )
        )
    groups = []
    for row in total_rows:
        ranks = percentile_rows.get(row.key)
        ended = row.completed + row.failed + row.cancelled + row.lost
        groups.append(
            GroupStats(
                key=row.key,
                runs=row.runs,
                completed=row.completed,
                failed=row.failed,
                cancelled=row.cancelled,
                lost=row.lost,
                active=row.active,
                success_rate=_rate(row.completed, ended),
                duration_s=_durations(ranks, row.max_duration, row.mean_duration),
                waited=row.waited,
                wait_s=_durations(wait_rows.get(row.key), row.max_wait, row.mean_wait),
                records_processed=row.processed,
                records_failed=row.records_failed,
                records_per_s=round(row.completed_processed / row.completed_seconds, 3)
                if row.completed_seconds
                else None,
                trend=points[row.key],
            )
        )
    groups.sort(key=lambda group: (-group.runs, group.key or ""))
    names: dict[str | None, list[str]] = defaultdict(list)
    for row in name_rows:
        if len(names[row.error_type]) < _ERROR_NAMES_SHOWN and row.name is not None:
            names[row.error_type].append(row.name)
    return Analytics(
        since=to_datetime(since_ns),
        until=to_datetime(until_ns),
        group_by=group_by,
        bucket=bucket,
        groups=groups,
        errors=[
            ErrorPattern(
                error_type=row.error_type,
                count=row.count,
                last_seen=to_datetime(row.last),
                example_message=row.example,
                job_names=names[row.error_type],
            )
            for row in error_rows
        ],
    )


async def step_analytics(engine: AsyncEngine, *, job_name: str, since_ns: int, until_ns: int) -> StepAnalytics:
    """Per-step duration statistics of ``job_name``'s runs that started in [since_ns, until_ns)."""
    runs_in_period = (
        select(jobs.c.id).where(jobs.c.name == job_name, jobs.c.started_ns >= since_ns, jobs.c.started_ns < until_ns)
    ).scalar_subquery()
    ended = and_(
        job_steps.c.job_name == job_name, job_steps.c.job_id.in_(runs_in_period), job_steps.c.ended_ns.is_not(None)
    )
    seconds = cast(job_steps.c.duration_ns, Float) / 1e9
    totals = (
        select(
            job_steps.c.name,
            func.min(job_steps.c.step_index).label("index"),
            func.count().label("runs"),
            _count(job_steps.c.state == STEP_FAILED).label("failed"),
            cast(func.max(seconds), Float).label("max"),
            cast(func.avg(seconds), Float).label("mean"),
        )
        .where(ended)
        .group_by(job_steps.c.name)
    )
    step_ranks = percentiles(job_steps.c.name, seconds, job_steps.c.duration_ns, ended)
    async with engine.connect() as connection:
        total_rows = (await connection.execute(totals)).all()
        percentile_rows = {row.key: row for row in await connection.execute(step_ranks)}
    overall = sum(row.mean or 0.0 for row in total_rows)
    slowest = max((row.mean or 0.0 for row in total_rows), default=0.0)
    steps = [
        StepStats(
            name=row.name,
            index=row.index,
            runs=row.runs,
            failed=row.failed,
            duration_s=_durations(percentile_rows.get(row.name), row.max, row.mean),
            share_of_total=_rate(row.mean or 0.0, overall) if overall else None,
            bottleneck=bool(slowest) and row.mean == slowest,
        )
        for row in total_rows
    ]
    steps.sort(key=lambda step: (step.index is None, step.index or 0, step.name))
    return StepAnalytics(job_name=job_name, since=to_datetime(since_ns), until=to_datetime(until_ns), steps=steps)
