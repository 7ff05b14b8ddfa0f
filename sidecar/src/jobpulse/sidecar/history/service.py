"""History: the job history behind the store. Restores memory at start, writes changes behind the fold,
and answers queries from memory and storage together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.history import analytics, dead_letters, queries
from jobpulse.sidecar.history.writer import HistoryWriter, ProcessMode
from jobpulse.sidecar.model.state import ACTIVE_STATUSES, TERMINAL_STATUSES, JobState
from jobpulse.sidecar.store import JobStore

if TYPE_CHECKING:
    from jobpulse.sidecar.settings import Settings

log = logging.getLogger("jobpulse.sidecar.history")


class History:
    """Durable job history behind a JobStore, on a migrated ``engine``."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: JobStore,
        *,
        flush_interval_s: float,
        max_pending_lines: int,
        process_mode: ProcessMode = "never",
    ) -> None:
        self.store = store
        self.engine = engine
        self.writer = HistoryWriter(
            engine, store, interval_s=flush_interval_s, max_pending_lines=max_pending_lines, process_mode=process_mode
        )

    def reconfigure(self, settings: Settings) -> None:
        """A new flush interval applies from the next wait, a new bound to the next line, a new writer
        process mode to the next batch."""
        self.writer.interval_s = settings.history_flush_interval_s
        self.writer.max_pending_lines = settings.history_max_pending_lines
        self.writer.process_mode = settings.history_writer_process

    async def start(self) -> None:
        """Rebuild memory from what is stored, then start writing."""
        restored = await self.restore()
        if restored:
            log.info("restored %d job(s) from history", restored)
        await self.writer.start()

    async def stop(self) -> None:
        """Write what is left."""
        await self.writer.stop()

    async def restore(self) -> int:
        """Put active jobs and the most recent finished ones back into the store, as stored.

        Active jobs keep the time they were last heard from, which is before this start: the lost-job
        detector gives such jobs a short grace to be heard from again (see lost_jobs.py).
        """
        active = await queries.load_states(self.engine, sorted(ACTIVE_STATUSES))
        finished = await queries.load_states(self.engine, sorted(TERMINAL_STATUSES), self.store.finished_capacity)
        for state in reversed(finished):
            self.store.restore(state)
        for state in active:
            self.store.restore(state)
        return len(active) + len(finished)

    async def check(self) -> str:
        """Readiness: the database answers and the writer keeps up."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:
            return f"database unreachable: {type(error).__name__}: {error}"
        if self.writer.stats.last_error is not None:
            return f"history writes failing: {self.writer.stats.last_error}"
        return "ok"

    def readiness_detail(self) -> str | None:
        """Rows set aside since start, for /readyz: worth knowing, but not an outage."""
        count = self.writer.stats.rows_set_aside
        if not count:
            return None
        return f"{count} row(s) refused by history storage set aside since start: GET /api/monitor/dead-letters"

    async def dead_letter_page(
        self, limit: int, before_id: int | None = None, job_id: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Set-aside rows, newest first, and how many match in all."""
        return await dead_letters.page(self.engine, limit, before_id, job_id)

    async def get_state(self, job_id: str) -> JobState | None:
        """The job from memory if it is there (freshest), else from storage."""
        return self.store.get(job_id) or await queries.get_state(self.engine, job_id)

    async def list_jobs(self, job_filter: queries.JobFilter, **page: Any) -> queries.JobListPage:
        """A page of stored jobs, each replaced by its in-memory state when fresher.

        Job changes not written yet are written first, so a job that just started or ended is listed;
        a flush under way is waited for, as the changes it took are not pending any more.
        """
        if self.writer.jobs_pending or self.writer.flushing:
            await self.writer.flush()
        result = await queries.list_jobs(self.engine, job_filter, **page)
        result.states = [self.store.get(state.id) or state for state in result.states]
        return result

    async def logs(
        self, job_id: str, log_filter: queries.LogFilter, limit: int
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """Lines of ``job_id`` (stored ones and those not written yet), the total matching, more-to-come."""
        stored = await queries.list_logs(self.engine, job_id, log_filter, limit + 1)
        total = await queries.count_logs(self.engine, job_id, log_filter)
        seen = {row["seq"] for row in stored}
        pending = [
            row for row in self.writer.pending_lines(job_id) if row["seq"] not in seen and log_filter.matches(row)
        ]
        merged = sorted(stored + pending, key=lambda row: row["seq"])
        return merged[:limit], total + len(pending), len(merged) > limit

    async def iter_logs(self, job_id: str, log_filter: queries.LogFilter) -> AsyncIterator[dict[str, Any]]:
        """Every matching line of ``job_id``: stored ones, then those not written yet."""
        last = log_filter.after_seq
        async for row in queries.iter_logs(self.engine, job_id, log_filter):
            last = row["seq"]
            yield row
        for row in sorted(self.writer.pending_lines(job_id), key=lambda row: row["seq"]):
            if row["seq"] > last and log_filter.matches(row):
                yield row

    async def analytics(self, **query: Any) -> analytics.Analytics:
        return await analytics.job_analytics(self.engine, **query)

    async def step_analytics(self, **query: Any) -> analytics.StepAnalytics:
        return await analytics.step_analytics(self.engine, **query)
