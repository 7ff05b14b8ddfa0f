"""History's parts of the retention sweep: ``sweep_jobs`` and ``expire_dead_letters``.

Old jobs expire, each job keeps its newest log lines, log storage has a ceiling, and rows set aside as
dead letters go with the jobs of their time. Lines dropped from a job are announced by a marker line
(seq 0, which emitters never use) saying how many went and why. ``History`` registers both parts with
its sweeper (``storage.retention``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from jobpulse.sidecar.history.rows import LOG_ROW_OVERHEAD_BYTES
from jobpulse.sidecar.history.tables import MARKER_SEQ, dead_letters, job_logs, job_steps, jobs
from jobpulse.sidecar.model.events import LEVEL_NUMBERS
from jobpulse.sidecar.model.state import LOST
from jobpulse.sidecar.storage.engine import insert
from jobpulse.sidecar.storage.policy import RetentionPolicy
from jobpulse.sidecar.storage.retention import ReportRow, RetentionCounts, Sweep


class JobCounts(RetentionCounts):
    """Jobs expired with their lines, lines trimmed per job and rotated for the storage cap."""

    jobs_expired: int = 0
    log_lines_expired: int = 0
    jobs_trimmed: int = 0
    log_lines_trimmed: int = 0
    jobs_rotated: int = 0
    log_lines_rotated: int = 0
    log_bytes_freed: int = 0

    def rows(self, policy: RetentionPolicy) -> list[ReportRow]:
        return [
            (f"jobs ended over {policy.job_days:g} days ago", f"{self.jobs_expired:,}", f"{self.log_lines_expired:,}"),
            (
                f"over {policy.log_lines_per_job:,} lines per job",
                f"{self.jobs_trimmed:,}",
                f"{self.log_lines_trimmed:,}",
            ),
            (
                f"log storage over {policy.log_storage_mb:g} MB",
                f"{self.jobs_rotated:,}",
                f"{self.log_lines_rotated:,}",
            ),
        ]

    def note(self) -> str:
        return f"about {self.log_bytes_freed / 1024 / 1024:.1f} MB of log text"


class DeadLetterCounts(RetentionCounts):
    """Rows set aside by the history writer that expired."""

    dead_letters_expired: int = 0

    def rows(self, policy: RetentionPolicy) -> list[ReportRow]:
        return [
            (f"rows set aside over {policy.job_days:g} days ago", f"{self.dead_letters_expired:,} dead letters", "")
        ]


async def sweep_jobs(sweep: Sweep) -> JobCounts:
    """Expire old jobs, then trim each job's lines, then rotate the oldest jobs' lines out."""
    return await JobRetention(sweep).run()


async def expire_dead_letters(sweep: Sweep) -> DeadLetterCounts:
    """Rows set aside by the history writer go with the jobs of their time."""
    old = dead_letters.c.at_ns < sweep.cutoff_ns()
    counts = DeadLetterCounts()
    async with sweep.engine.begin() as connection:
        counts.dead_letters_expired = await sweep.expire(connection, dead_letters, old)
    return counts


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


class JobRetention:
    """One sweep's pass over the jobs and their log lines."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        self.engine = sweep.engine
        self.policy = sweep.policy
        self.clock_ns = sweep.clock_ns
        upsert = insert(self.engine, job_logs)
        self._upsert_marker = upsert.on_conflict_do_update(
            index_elements=[job_logs.c.job_id, job_logs.c.seq],
            set_={"message": upsert.excluded.message, "time_ns": upsert.excluded.time_ns},
        )

    async def run(self) -> JobCounts:
        report = JobCounts()
        await self._expire(report)
        await self._trim(report)
        await self._rotate(report)
        return report

    # ---- expired jobs -------------------------------------------------------------------------

    def _expired(self) -> Any:
        cutoff = self.sweep.cutoff_ns()
        # Ended jobs by their end (through the index on ended_key, which is -1 for jobs that have not
        # ended); jobs that never ended (lost) by their last sign of life.
        return or_(
            and_(jobs.c.ended_key >= 0, jobs.c.ended_key < cutoff),
            and_(jobs.c.ended_ns.is_(None), jobs.c.status == LOST, jobs.c.updated_ns < cutoff),
        )

    async def _expire(self, report: JobCounts) -> None:
        expired = self._expired()
        if self.sweep.dry_run:
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
            await self.sweep.batch_done("expired jobs", report.jobs_expired)

    @staticmethod
    async def _delete_jobs(connection: AsyncConnection, ids: Sequence[str]) -> int:
        lines = (await connection.execute(delete(job_logs).where(job_logs.c.job_id.in_(ids)))).rowcount
        await connection.execute(delete(job_steps).where(job_steps.c.job_id.in_(ids)))
        await connection.execute(delete(jobs).where(jobs.c.id.in_(ids)))
        return lines

    # ---- per-job log cap ----------------------------------------------------------------------

    async def _trim(self, report: JobCounts) -> None:
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
                dropped, freed = await self._trim_job(job_id, cap, self.sweep.dry_run)
                if dropped:
                    report.jobs_trimmed += 1
                    report.log_lines_trimmed += dropped
                    report.log_bytes_freed += freed
            last_id = candidates[-1]
            await self.sweep.batch_done("trimmed jobs", report.jobs_trimmed)

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

    async def _rotate(self, report: JobCounts) -> None:
        limit_bytes = int(self.policy.log_storage_mb * 1024 * 1024)
        async with self.engine.connect() as connection:
            used = (await connection.execute(select(func.coalesce(func.sum(jobs.c.log_bytes), 0)))).scalar_one()
        # A dry run deleted nothing: count what expiry would already have freed.
        over = used - (report.log_bytes_freed if self.sweep.dry_run else 0) - limit_bytes
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
                report.log_lines_rotated += await self._rotate_job(row.id, self.sweep.dry_run)
                report.log_bytes_freed += row.log_bytes
                over -= row.log_bytes
            after = (oldest[-1].started, oldest[-1].id)
            await self.sweep.batch_done("rotated jobs", report.jobs_rotated)

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
