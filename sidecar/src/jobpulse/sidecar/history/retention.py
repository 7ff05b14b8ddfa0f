"""Retention: old jobs expire, each job keeps its newest log lines, and log storage has a ceiling.

All of it runs in small batches, one short transaction each, yielding to the event loop in between, so
a sweep never holds up ingest or the history writer for long. Lines dropped from a job are announced
by a marker line (seq 0, which emitters never use) saying how many went and why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobpulse.sidecar.history.db import insert
from jobpulse.sidecar.history.policy import RetentionPolicy
from jobpulse.sidecar.history.rows import LOG_ROW_OVERHEAD_BYTES
from jobpulse.sidecar.history.tables import (
    MARKER_SEQ,
    alert_notifications,
    alert_silences,
    alerts,
    dead_letters,
    job_logs,
    job_steps,
    jobs,
)
from jobpulse.sidecar.model.events import LEVEL_NUMBERS
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.retention")

Progress = Callable[[str, int], None]


class RetentionReport(msgspec.Struct):
    """What a sweep removed (or, for a dry run, would remove)."""

    dry_run: bool
    jobs_expired: int = 0
    log_lines_expired: int = 0
    jobs_trimmed: int = 0
    log_lines_trimmed: int = 0
    jobs_rotated: int = 0
    log_lines_rotated: int = 0
    log_bytes_freed: int = 0
    alerts_expired: int = 0
    notifications_expired: int = 0
    dead_letters_expired: int = 0

    @property
    def anything(self) -> bool:
        return any(
            (
                self.jobs_expired,
                self.log_lines_expired,
                self.log_lines_trimmed,
                self.log_lines_rotated,
                self.alerts_expired,
                self.notifications_expired,
                self.dead_letters_expired,
            )
        )


def _marker_row(job_id: str, time_ns: int, dropped: int, why: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "seq": MARKER_SEQ,
        "time_ns": time_ns,
        "level": LEVEL_NUMBERS["warning"],
        "message": f"[jobpulse] {dropped:,} older log line(s) of this job were dropped: {why}",
        "logger": "jobpulse.retention",
        "attributes": None,
    }


class RetentionSweeper:
    """Applies a RetentionPolicy to the history database."""

    def __init__(
        self,
        engine: AsyncEngine,
        policy: RetentionPolicy,
        *,
        interval_s: float = 60.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.interval_s = interval_s
        self.clock_ns = clock_ns
        self._tasks = BackgroundTasks()
        upsert = insert(engine, job_logs)
        self._upsert_marker = upsert.on_conflict_do_update(
            index_elements=[job_logs.c.job_id, job_logs.c.seq],
            set_={"message": upsert.excluded.message, "time_ns": upsert.excluded.time_ns},
        )

    async def sweep(self, *, dry_run: bool = False, progress: Progress | None = None) -> RetentionReport:
        """One full pass: expire, trim, rotate."""
        report = RetentionReport(dry_run=dry_run)
        await self._expire(report, progress)
        await self._expire_alerts(report)
        await self._expire_dead_letters(report)
        await self._trim(report, progress)
        await self._rotate(report, progress)
        return report

    # ---- expired jobs -------------------------------------------------------------------------

    def _cutoff_ns(self) -> int:
        return self.clock_ns() - int(self.policy.job_days * 86400 * 1e9)

    def _expired(self) -> Any:
        cutoff = self._cutoff_ns()
        # Ended jobs by their end (through the index on ended_key, which is -1 for jobs that have not
        # ended); jobs that never ended (lost) by their last sign of life.
        return or_(
            and_(jobs.c.ended_key >= 0, jobs.c.ended_key < cutoff),
            and_(jobs.c.ended_ns.is_(None), jobs.c.status == "lost", jobs.c.updated_ns < cutoff),
        )

    async def _expire(self, report: RetentionReport, progress: Progress | None) -> None:
        expired = self._expired()
        if report.dry_run:
            async with self.engine.connect() as connection:
                counted = (
                    await connection.execute(
                        select(func.count(), func.coalesce(func.sum(jobs.c.log_bytes), 0)).where(expired)
                    )
                ).one()
                lines = (
                    await connection.execute(
                        select(func.count())
                        .select_from(job_logs)
                        .where(job_logs.c.job_id.in_(select(jobs.c.id).where(expired)))
                    )
                ).scalar_one()
            report.jobs_expired, report.log_lines_expired = counted[0], lines
            report.log_bytes_freed += counted[1]
            return
        while True:
            async with self.engine.begin() as connection:
                batch = (
                    await connection.execute(
                        select(jobs.c.id, jobs.c.log_bytes).where(expired).limit(self.policy.batch_size)
                    )
                ).all()
                if not batch:
                    return
                ids = [row.id for row in batch]
                lines = await self._delete_jobs(connection, ids)
            report.jobs_expired += len(ids)
            report.log_lines_expired += lines
            report.log_bytes_freed += sum(row.log_bytes for row in batch)
            if progress:
                progress("expired jobs", report.jobs_expired)
            await asyncio.sleep(0)

    async def _expire_alerts(self, report: RetentionReport) -> None:
        """Resolved alerts, their delivery records and lapsed silences go with the jobs of their time."""
        cutoff = self._cutoff_ns()
        resolved = and_(alerts.c.state == "resolved", alerts.c.resolved_ns < cutoff)
        notified = alert_notifications.c.created_ns < cutoff
        async with self.engine.begin() as connection:
            if report.dry_run:
                count_alerts = select(func.count()).select_from(alerts).where(resolved)
                count_notifications = select(func.count()).select_from(alert_notifications).where(notified)
                report.alerts_expired = (await connection.execute(count_alerts)).scalar_one()
                report.notifications_expired = (await connection.execute(count_notifications)).scalar_one()
                return
            report.notifications_expired = (
                await connection.execute(delete(alert_notifications).where(notified))
            ).rowcount
            report.alerts_expired = (await connection.execute(delete(alerts).where(resolved))).rowcount
            await connection.execute(delete(alert_silences).where(alert_silences.c.until_ns < cutoff))

    async def _expire_dead_letters(self, report: RetentionReport) -> None:
        """Rows set aside by the history writer go with the jobs of their time."""
        old = dead_letters.c.at_ns < self._cutoff_ns()
        async with self.engine.begin() as connection:
            if report.dry_run:
                count = select(func.count()).select_from(dead_letters).where(old)
                report.dead_letters_expired = (await connection.execute(count)).scalar_one()
            else:
                report.dead_letters_expired = (await connection.execute(delete(dead_letters).where(old))).rowcount

    @staticmethod
    async def _delete_jobs(connection: AsyncConnection, ids: Sequence[str]) -> int:
        lines = (await connection.execute(delete(job_logs).where(job_logs.c.job_id.in_(ids)))).rowcount
        await connection.execute(delete(job_steps).where(job_steps.c.job_id.in_(ids)))
        await connection.execute(delete(jobs).where(jobs.c.id.in_(ids)))
        return lines

    # ---- per-job log cap ----------------------------------------------------------------------

    async def _trim(self, report: RetentionReport, progress: Progress | None) -> None:
        cap = self.policy.log_lines_per_job
        over = (jobs.c.log_lines - jobs.c.log_lines_dropped) > cap
        last_id = ""
        while True:
            async with self.engine.connect() as connection:
                candidates = (
                    (
                        await connection.execute(
                            select(jobs.c.id)
                            .where(over, jobs.c.id > last_id)
                            .order_by(jobs.c.id)
                            .limit(self.policy.batch_size)
                        )
                    )
                    .scalars()
                    .all()
                )
            if not candidates:
                return
            for job_id in candidates:
                dropped, freed = await self._trim_job(job_id, cap, report.dry_run)
                if dropped:
                    report.jobs_trimmed += 1
                    report.log_lines_trimmed += dropped
                    report.log_bytes_freed += freed
            last_id = candidates[-1]
            if progress:
                progress("trimmed jobs", report.jobs_trimmed)
            await asyncio.sleep(0)

    async def _trim_job(self, job_id: str, cap: int, dry_run: bool) -> tuple[int, int]:
        """Drop the lines of ``job_id`` beyond its newest ``cap``; return (lines, bytes) dropped."""
        stored = and_(job_logs.c.job_id == job_id, job_logs.c.seq != MARKER_SEQ)
        async with self.engine.begin() as connection:
            count = (await connection.execute(select(func.count()).select_from(job_logs).where(stored))).scalar_one()
            excess = count - cap
            if excess <= 0:
                return 0, 0
            cutoff = (
                await connection.execute(
                    select(job_logs.c.seq).where(stored).order_by(job_logs.c.seq).offset(excess).limit(1)
                )
            ).scalar_one()
            oldest = and_(stored, job_logs.c.seq < cutoff)
            text_bytes = (
                await connection.execute(
                    select(func.coalesce(func.sum(func.length(job_logs.c.message)), 0)).where(oldest)
                )
            ).scalar_one()
            freed = int(text_bytes) + excess * LOG_ROW_OVERHEAD_BYTES
            if not dry_run:
                await connection.execute(delete(job_logs).where(oldest))
                await self._account(connection, job_id, excess, freed, f"this job keeps its newest {cap:,} lines")
        return excess, freed

    def _at_least_zero(self, value: Any) -> Any:
        # SQLite's two-argument max() is PostgreSQL's greatest().
        return func.max(value, 0) if self.engine.dialect.name == "sqlite" else func.greatest(value, 0)

    async def _account(self, connection: AsyncConnection, job_id: str, dropped: int, freed: int, why: str) -> None:
        row = (
            await connection.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    log_lines_dropped=jobs.c.log_lines_dropped + dropped,
                    log_bytes=self._at_least_zero(jobs.c.log_bytes - freed),
                )
                .returning(jobs.c.log_lines_dropped)
            )
        ).one_or_none()
        total_dropped = row.log_lines_dropped if row else dropped
        await connection.execute(self._upsert_marker, [_marker_row(job_id, self.clock_ns(), total_dropped, why)])

    # ---- global log storage cap ---------------------------------------------------------------

    async def _rotate(self, report: RetentionReport, progress: Progress | None) -> None:
        limit_bytes = int(self.policy.log_storage_mb * 1024 * 1024)
        async with self.engine.connect() as connection:
            used = (await connection.execute(select(func.coalesce(func.sum(jobs.c.log_bytes), 0)))).scalar_one()
        # A dry run deleted nothing: count what expiry would already have freed.
        over = used - (report.log_bytes_freed if report.dry_run else 0) - limit_bytes
        started = jobs.c.started_ns
        after: tuple[int, str] = (-1, "")
        while over > 0:
            async with self.engine.connect() as connection:
                oldest = (
                    await connection.execute(
                        select(jobs.c.id, started.label("started"), jobs.c.log_bytes)
                        .where(jobs.c.log_bytes > LOG_ROW_OVERHEAD_BYTES, tuple_(started, jobs.c.id) > tuple_(*after))
                        .order_by(started, jobs.c.id)
                        .limit(self.policy.batch_size)
                    )
                ).all()
            if not oldest:
                return
            for row in oldest:
                if over <= 0:
                    break
                report.jobs_rotated += 1
                report.log_lines_rotated += await self._rotate_job(row.id, report.dry_run)
                report.log_bytes_freed += row.log_bytes
                over -= row.log_bytes
            after = (oldest[-1].started, oldest[-1].id)
            if progress:
                progress("rotated jobs", report.jobs_rotated)
            await asyncio.sleep(0)

    async def _rotate_job(self, job_id: str, dry_run: bool) -> int:
        stored = and_(job_logs.c.job_id == job_id, job_logs.c.seq != MARKER_SEQ)
        async with self.engine.begin() as connection:
            if dry_run:
                return (await connection.execute(select(func.count()).select_from(job_logs).where(stored))).scalar_one()
            lines = (await connection.execute(delete(job_logs).where(stored))).rowcount
            megabytes = f"{self.policy.log_storage_mb:g}"
            # Everything but the marker is gone, so the job's accounted bytes drop to zero.
            await self._account(
                connection, job_id, lines, 1 << 62, f"log storage is capped at {megabytes} MB, oldest jobs first"
            )
        return lines

    # ---- the periodic sweep -------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.every(self.interval_s, self._sweep_and_report, "retention sweep")

    async def stop(self) -> None:
        await self._tasks.cancel()

    async def _sweep_and_report(self) -> None:
        report = await self.sweep()
        if report.anything:
            log.info(
                "retention: %d job(s) expired, %d line(s) trimmed, %d line(s) rotated, %d dead letter(s) expired",
                report.jobs_expired,
                report.log_lines_trimmed,
                report.log_lines_rotated,
                report.dead_letters_expired,
            )
