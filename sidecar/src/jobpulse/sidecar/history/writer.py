"""HistoryWriter: writes job states, steps and log lines behind the fold, in batches.

Ingest never waits for the disk. Changes are collected in memory (a job's newest state replaces the
previous one; every log line is kept) and written every ``interval_s`` in one transaction. Writes are
idempotent — job rows are upserts, log lines are keyed by (job id, seq) — so rewriting a batch after a
failure, or replaying events after a crash, is harmless. A crash loses at most the changes of the
last interval; a graceful stop writes everything first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import literal_column, or_
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.history import rows
from jobpulse.sidecar.history.db import insert
from jobpulse.sidecar.history.tables import job_logs, job_steps, jobs
from jobpulse.sidecar.model.events import KIND_LOG
from jobpulse.sidecar.model.fold import folded_line
from jobpulse.sidecar.model.state import TERMINAL_STATUSES, JobState
from jobpulse.sidecar.store import JobChange, JobStore
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.history")

class WriterStats:
    """Counters of the writer, for /metrics and readiness."""

    def __init__(self) -> None:
        self.flushes = 0
        self.failures = 0
        self.lines_dropped = 0
        self.last_flush_seconds = 0.0
        self.last_error: str | None = None


class HistoryWriter:
    """Listens to the JobStore and persists what changed, off the request path."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: JobStore,
        *,
        interval_s: float = 0.5,
        max_pending_lines: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.store = store
        self.interval_s = interval_s
        self.max_pending_lines = max_pending_lines
        self.clock = clock
        self.stats = WriterStats()
        self._dirty: dict[str, JobState] = {}
        self._lines: deque[dict[str, Any]] = deque()
        self._oldest_pending: float | None = None
        self._tasks = BackgroundTasks()
        self._lock = asyncio.Lock()
        self._statements = _Statements(engine)
        store.add_listener(self.on_change)

    # ---- collecting ---------------------------------------------------------------------------

    def on_change(self, change: JobChange) -> None:
        new, event = change.new, change.event
        self._dirty[new.id] = new
        if event.kind == KIND_LOG:
            if len(self._lines) >= self.max_pending_lines:
                self._lines.popleft()
                self.stats.lines_dropped += 1
                if self.stats.lines_dropped == 1:
                    log.warning("history storage is behind; dropping the oldest unwritten log lines")
            self._lines.append(rows.log_row(new.id, folded_line(new, event, self.store.limits)))
        if self._oldest_pending is None:
            self._oldest_pending = self.clock()

    @property
    def lag_seconds(self) -> float:
        """How long the oldest unwritten change has waited."""
        return 0.0 if self._oldest_pending is None else self.clock() - self._oldest_pending

    @property
    def jobs_pending(self) -> int:
        return len(self._dirty)

    @property
    def pending(self) -> int:
        return len(self._dirty) + len(self._lines)

    def pending_lines(self, job_id: str) -> list[dict[str, Any]]:
        """Log lines of ``job_id`` received but not written yet (readers merge them in)."""
        return [row for row in self._lines if row["job_id"] == job_id]

    # ---- writing ------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write everything collected so far; on failure keep it for the next attempt and raise."""
        async with self._lock:
            if not self._dirty and not self._lines:
                return
            dirty, self._dirty = self._dirty, {}
            lines, self._lines = list(self._lines), deque()
            oldest, self._oldest_pending = self._oldest_pending, None
            started = self.clock()
            try:
                await self._write(list(dirty.values()), lines)
            except Exception:
                # Newer states that arrived meanwhile win; lines go back in front, in order.
                self._dirty = {**dirty, **self._dirty}
                self._lines.extendleft(reversed(lines))
                self._oldest_pending = oldest
                raise
            self.stats.flushes += 1
            self.stats.last_flush_seconds = self.clock() - started

    async def _write(self, states: list[JobState], lines: list[dict[str, Any]]) -> None:
        bytes_by_job: dict[str, int] = {}
        for row in lines:
            bytes_by_job[row["job_id"]] = bytes_by_job.get(row["job_id"], 0) + rows.log_row_bytes(row)
        job_rows = []
        for state in states:
            row = rows.job_row(state)
            row["log_bytes"] = bytes_by_job.pop(state.id, 0)
            job_rows.append(row)
        step_rows = [row for state in states for row in rows.step_rows(state)]
        async with self.engine.begin() as connection:
            if job_rows:
                await connection.execute(self._statements.upsert_jobs, job_rows)
            if step_rows:
                await connection.execute(self._statements.upsert_steps, step_rows)
            if lines:
                await connection.execute(self._statements.insert_lines, lines)

    async def start(self) -> None:
        self._tasks.retrying(self.interval_s, self.flush, "history-writer", failed=self._failed, recovered=self._recovered)

    async def stop(self) -> None:
        """Stop the loop and write what is left."""
        await self._tasks.cancel()
        try:
            await self.flush()
        except Exception:
            log.exception("could not write the last %d history changes at shutdown", self.pending)

    def _failed(self, error: Exception, first: bool) -> None:
        self.stats.failures += 1
        self.stats.last_error = f"{type(error).__name__}: {error}"
        if first:
            log.error("writing job history failed, will retry: %s", self.stats.last_error)

    def _recovered(self) -> None:
        log.info("writing job history works again")
        self.stats.last_error = None


class _Statements:
    """The three write statements, built once per dialect."""

    def __init__(self, engine: AsyncEngine) -> None:
        job_insert = insert(engine, jobs)
        excluded = job_insert.excluded
        # log_lines_dropped belongs to retention: the writer never sets it.
        updated = {
            column.name: excluded[column.name] for column in jobs.columns if column.name not in ("id", "log_lines_dropped")
        }
        updated["log_bytes"] = jobs.c.log_bytes + excluded.log_bytes
        # A job this process knows only from stray late events (no start seen) must not overwrite
        # the full record of a finished job.
        self.upsert_jobs = job_insert.on_conflict_do_update(
            index_elements=[jobs.c.id],
            set_=updated,
            # Inlined constants: executemany cannot expand an IN list of bound parameters.
            where=or_(
                jobs.c.status.notin_([literal_column(f"'{status}'") for status in sorted(TERMINAL_STATUSES)]),
                excluded.ident_seq != literal_column("0"),
            ),
        )
        step_insert = insert(engine, job_steps)
        self.upsert_steps = step_insert.on_conflict_do_update(
            index_elements=[job_steps.c.job_id, job_steps.c.name],
            set_={
                column.name: step_insert.excluded[column.name]
                for column in job_steps.columns
                if column.name not in ("job_id", "name")
            },
        )
        self.insert_lines = insert(engine, job_logs).on_conflict_do_nothing(
            index_elements=[job_logs.c.job_id, job_logs.c.seq]
        )
