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

Batches are written by a process of their own (``writer_process``) as ``process_mode`` says: never
(the default), always, or, in ``auto``, from the first batch of at least
:data:`AUTO_PROCESS_ROWS` rows that took :data:`AUTO_PROCESS_SECONDS` or more to write on the event
loop's core. An in-memory SQLite database is only reachable from this process: it is always written here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.history import dead_letters, rows
from jobpulse.sidecar.history.batches import BatchWriter, Refusal
from jobpulse.sidecar.history.writer_process import WriterProcess, WriterProcessFailed
from jobpulse.sidecar.model.events import KIND_LOG
from jobpulse.sidecar.model.fold import folded_line
from jobpulse.sidecar.model.state import JobState
from jobpulse.sidecar.store import JobChange, JobStore
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.history")

# Refused rows named one by one in the log per batch; beyond that, a count.
_LOGGED_PER_BATCH = 10

ProcessMode = Literal["auto", "always", "never"]

# In ``auto``, a batch this large that took this long on the event loop's core moves the writing to
# the writer process: from then on it costs the loop an encode (about a microsecond a row) instead
# of the statements. Below that, the process would cost more (memory, a start-up) than it saves.
AUTO_PROCESS_ROWS = 200
AUTO_PROCESS_SECONDS = 0.02


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


class HistoryWriter:
    """Listens to the JobStore and persists what changed, off the request path."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: JobStore,
        *,
        interval_s: float = 0.5,
        max_pending_lines: int = 200_000,
        process_mode: ProcessMode = "never",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.process_mode: ProcessMode = process_mode
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
        self._batches = BatchWriter(engine)
        # None: the database is only reachable from this process (an in-memory SQLite database).
        self._process = None if _in_memory(engine) else WriterProcess(engine.url.render_as_string(hide_password=False))
        self._loaded = False
        self._process_died = False
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
            states = list(dirty.values())
            try:
                refused, cancelled = await self._write(states, lines)
            except BaseException:
                # Cancellation included: a flush cut short must not lose its batch. Newer states that
                # arrived meanwhile win; lines go back in front, in order.
                self._dirty = {**dirty, **self._dirty}
                self._lines.extendleft(reversed(lines))
                self._oldest_pending = oldest
                raise
            finally:
                self._writing = []
            elapsed = self.clock() - started
            self.stats.flushes += 1
            self.stats.last_flush_seconds = elapsed
            if refused:
                self._report(refused)
            if cancelled:
                raise asyncio.CancelledError
            if (
                self.process_mode == "auto"
                and len(states) + len(lines) >= AUTO_PROCESS_ROWS
                and elapsed >= AUTO_PROCESS_SECONDS
            ):
                self._loaded = True

    @property
    def uses_process(self) -> bool:
        """Batches go to the writer process (``process_mode`` and, in ``auto``, the load so far)."""
        if self._process is None or self.process_mode == "never":
            return False
        return self.process_mode == "always" or (self._loaded and not self._process_died)

    async def writer_pid(self) -> int | None:
        """The writer process's id (started if need be) while batches go there, else None."""
        return await self._process.pid() if self._process is not None and self.uses_process else None

    async def _write(self, states: list[JobState], lines: list[dict[str, Any]]) -> tuple[list[Refusal], bool]:
        """Write a batch here or in the writer process; return the rows set aside, and whether the
        flush was cancelled after the process had taken the batch (and written it)."""
        process = self._process
        if process is None or not self.uses_process:
            if process is not None:
                await process.close()
            return await self._batches.write(states, lines), False
        write = asyncio.ensure_future(process.write(states, lines))
        try:
            return await asyncio.shield(write), False
        except asyncio.CancelledError:
            # Once handed over, the batch is written or not however long anyone waits: wait for the
            # outcome, so a written batch is not also kept and written twice (log_bytes adds up).
            return await write, True
        except WriterProcessFailed:
            if self.process_mode == "auto" and not self._process_died:
                # What kills a process may kill the next: auto goes back to writing here, for good.
                self._process_died = True
                log.warning("the history writer process died; history is written by the sidecar's own process now")
            raise

    def _report(self, refused: list[Refusal]) -> None:
        for refusal in refused:
            self.stats.dead_letters[refusal.kind] += 1
        for refusal in refused[:_LOGGED_PER_BATCH]:
            what = "state" if refusal.kind == dead_letters.KIND_JOB else f"log line {refusal.seq}"
            log.error(
                "history storage refused the %s of job %r; set aside in dead_letters: %s",
                what,
                refusal.job_id,
                refusal.reason,
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
        if self._process is not None:
            await self._process.close()

    def _failed(self, error: Exception, first: bool) -> None:
        self.stats.failures += 1
        self.stats.last_error = f"{type(error).__name__}: {error}"
        if first:
            log.error("writing job history failed, will retry: %s", self.stats.last_error)

    def _recovered(self) -> None:
        log.info("writing job history works again")
        self.stats.last_error = None


def _in_memory(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")
