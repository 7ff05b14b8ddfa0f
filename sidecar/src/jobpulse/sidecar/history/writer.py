"""HistoryWriter: writes job states, steps and log lines behind the fold, in batches.

Ingest never waits for the disk. Changes are collected in memory (a job's newest state replaces the
previous one; every log line is kept) and written every ``interval_s`` in one transaction. Writes are
idempotent — job rows are upserts, log lines are keyed by (job id, seq) — so rewriting a batch after a
failure, or replaying events after a crash, is harmless. A crash loses at most the changes of the
last interval; a graceful stop writes everything first.

A failure retrying cannot cure — a value the database cannot hold — is isolated to the rows that
cause it: they are set aside as dead letters (see ``dead_letters``) and the rest of the batch is
written, in the same transaction. Any other failure (a lost connection, a locked database) keeps the
whole batch for the next attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import literal_column, or_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobpulse.sidecar.history import dead_letters, rows
from jobpulse.sidecar.history.tables import job_logs, job_steps, jobs
from jobpulse.sidecar.model.events import KIND_LOG
from jobpulse.sidecar.model.fold import folded_line
from jobpulse.sidecar.model.state import TERMINAL_STATUSES, JobState
from jobpulse.sidecar.storage.engine import insert, transaction
from jobpulse.sidecar.store import JobChange, JobStore
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.history")

# Refused rows named one by one in the log per batch; beyond that, a count.
_LOGGED_PER_BATCH = 10


class WriterStats:
    """Counters of the writer, for /metrics and readiness."""

    def __init__(self) -> None:
        self.flushes = 0
        self.failures = 0
        self.lines_dropped = 0
        self.dead_letters = {dead_letters.KIND_JOB: 0, dead_letters.KIND_LOG: 0}
        self.last_flush_seconds = 0.0
        self.last_error: str | None = None

    @property
    def rows_set_aside(self) -> int:
        """Job states and log lines set aside as dead letters since start."""
        return sum(self.dead_letters.values())


class _Unit(NamedTuple):
    """What is written, or set aside, whole: a job's row with its steps, or one log line."""

    kind: str
    job_id: str
    data: Any  # the JobState or the log row: what a dead letter keeps
    job: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = []
    line: dict[str, Any] | None = None


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
        # Lines of the flush under way: neither waiting nor stored until its transaction commits.
        self._writing: list[dict[str, Any]] = []
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
    def flushing(self) -> bool:
        """A flush is under way: what it writes is neither pending nor stored until it commits."""
        return self._lock.locked()

    @property
    def pending(self) -> int:
        return len(self._dirty) + len(self._lines)

    def pending_lines(self, job_id: str) -> list[dict[str, Any]]:
        """Log lines of ``job_id`` received but not written yet, those being written included (readers
        merge them in, by seq)."""
        return [row for batch in (self._writing, self._lines) for row in batch if row["job_id"] == job_id]

    # ---- writing ------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write everything collected so far; on failure keep it for the next attempt and raise.

        Rows the database refuses for their data are set aside (dead letters), not retried.
        """
        async with self._lock:
            if not self._dirty and not self._lines:
                return
            dirty, self._dirty = self._dirty, {}
            lines, self._lines = list(self._lines), deque()
            oldest, self._oldest_pending = self._oldest_pending, None
            started = self.clock()
            self._writing = lines
            try:
                refused = await self._write(list(dirty.values()), lines)
            except BaseException:
                # Cancellation included: a flush cut short must not lose its batch. Newer states that
                # arrived meanwhile win; lines go back in front, in order.
                self._dirty = {**dirty, **self._dirty}
                self._lines.extendleft(reversed(lines))
                self._oldest_pending = oldest
                raise
            finally:
                self._writing = []
            self.stats.flushes += 1
            self.stats.last_flush_seconds = self.clock() - started
            if refused:
                self._report(refused)

    async def _write(self, states: list[JobState], lines: list[dict[str, Any]]) -> list[tuple[_Unit, Exception]]:
        """Write a batch in one transaction; return the units set aside, with why."""
        bytes_by_job: dict[str, int] = {}
        for row in lines:
            bytes_by_job[row["job_id"]] = bytes_by_job.get(row["job_id"], 0) + rows.log_row_bytes(row)
        units: list[_Unit] = []
        refused: list[tuple[_Unit, Exception]] = []
        for state in states:
            unit = _Unit(dead_letters.KIND_JOB, state.id, state)
            try:
                job = rows.job_row(state)
                steps = rows.step_rows(state)
            except Exception as error:
                # Turning one state into rows depends on nothing but that state: a retry fails alike.
                refused.append((unit, error))
                continue
            job["log_bytes"] = bytes_by_job.pop(state.id, 0)
            units.append(unit._replace(job=job, steps=steps))
        units += [_Unit(dead_letters.KIND_LOG, row["job_id"], row, line=row) for row in lines]
        at_ns = time.time_ns()
        async with transaction(self.engine) as connection:
            refused += await self._write_or_isolate(connection, units)
            if refused:
                letters = [
                    dead_letters.letter(unit.kind, unit.job_id, error, unit.data, at_ns) for unit, error in refused
                ]
                await dead_letters.set_aside(connection, letters)
        return refused

    async def _write_or_isolate(self, connection: AsyncConnection, units: list[_Unit]) -> list[tuple[_Unit, Exception]]:
        """Write ``units``, or, when the database refuses them for their data, every one it takes.

        Each attempt runs in a savepoint; a refused group is halved until the rows at fault stand
        alone, so a few bad rows among n cost about 2·log2(n) extra statements. Returns the refused
        units with the reason; any other failure is raised.
        """
        if not units:
            return []
        try:
            async with connection.begin_nested():
                await self._execute(connection, units)
            return []
        except Exception as error:
            if not dead_letters.is_data_error(error):
                raise
            if len(units) == 1:
                return [(units[0], error)]
        middle = len(units) // 2
        first = await self._write_or_isolate(connection, units[:middle])
        return first + await self._write_or_isolate(connection, units[middle:])

    async def _execute(self, connection: AsyncConnection, units: list[_Unit]) -> None:
        statements = self._statements
        job_rows = [unit.job for unit in units if unit.job is not None]
        step_rows = [row for unit in units for row in unit.steps]
        line_rows = [unit.line for unit in units if unit.line is not None]
        for statement, batch in (
            (statements.upsert_jobs, job_rows),
            (statements.upsert_steps, step_rows),
            (statements.insert_lines, line_rows),
        ):
            if batch:
                await connection.exec_driver_sql(statement.sql, list(map(statement.values, batch)))

    def _report(self, refused: list[tuple[_Unit, Exception]]) -> None:
        for unit, _error in refused:
            self.stats.dead_letters[unit.kind] += 1
        for unit, error in refused[:_LOGGED_PER_BATCH]:
            what = "state" if unit.kind == dead_letters.KIND_JOB else f"log line {unit.data['seq']}"
            log.error(
                "history storage refused the %s of job %r; set aside in dead_letters: %s",
                what,
                unit.job_id,
                dead_letters.describe(error),
            )
        if len(refused) > _LOGGED_PER_BATCH:
            log.error("%d more row(s) of this batch set aside in dead_letters", len(refused) - _LOGGED_PER_BATCH)

    async def start(self) -> None:
        self._tasks.retrying(
            lambda: self.interval_s, self.flush, "history-writer", failed=self._failed, recovered=self._recovered
        )

    async def stop(self) -> None:
        """Stop the loop and write what is left; a flush under way finishes first."""
        # Holding the lock, the loop is cancelled between flushes (or waiting for this lock), never
        # halfway through writing a batch.
        async with self._lock:
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


class _Batch(NamedTuple):
    """A write statement compiled once for the engine's dialect, and the getter turning a row into its
    parameters, in the statement's order: SQLAlchemy's per-row parameter processing costs more than
    the database's own work on a batch, and these columns need none (ints, floats, text, bytes)."""

    sql: str
    values: Callable[[dict[str, Any]], tuple[Any, ...]]


def _batch(engine: AsyncEngine, statement: Any, columns: list[str]) -> _Batch:
    compiled = statement.compile(dialect=engine.dialect, column_keys=columns)
    return _Batch(compiled.string, itemgetter(*compiled.positiontup))


class _Statements:
    """The three write statements, built once per dialect."""

    def __init__(self, engine: AsyncEngine) -> None:
        # log_lines_dropped belongs to retention: the writer never sets it (a new row starts at 0).
        job_insert = insert(engine, jobs).values(log_lines_dropped=literal_column("0"))
        excluded = job_insert.excluded
        written = [column.name for column in jobs.columns if column.name != "log_lines_dropped"]
        updated = {name: excluded[name] for name in written if name != "id"}
        updated["log_bytes"] = jobs.c.log_bytes + excluded.log_bytes
        # A job this process knows only from stray late events (no start seen) must not overwrite
        # the full record of a finished job.
        self.upsert_jobs = _batch(
            engine,
            job_insert.on_conflict_do_update(
                index_elements=[jobs.c.id],
                set_=updated,
                where=or_(
                    jobs.c.status.notin_([literal_column(f"'{status}'") for status in sorted(TERMINAL_STATUSES)]),
                    excluded.ident_seq != literal_column("0"),
                ),
            ),
            written,
        )
        step_insert = insert(engine, job_steps)
        self.upsert_steps = _batch(
            engine,
            step_insert.on_conflict_do_update(
                index_elements=[job_steps.c.job_id, job_steps.c.name],
                set_={
                    column.name: step_insert.excluded[column.name]
                    for column in job_steps.columns
                    if column.name not in ("job_id", "name")
                },
            ),
            [column.name for column in job_steps.columns],
        )
        self.insert_lines = _batch(
            engine,
            insert(engine, job_logs).on_conflict_do_nothing(index_elements=[job_logs.c.job_id, job_logs.c.seq]),
            [column.name for column in job_logs.columns],
        )
