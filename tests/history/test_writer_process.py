"""The history writer process: batches written by another process, on SQLite and PostgreSQL alike,
with the same guarantees as on the event loop (every row once, refused rows set aside, nothing lost
when the process dies)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psutil
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.history import queries
from jobpulse.sidecar.history.tables import dead_letters, jobs
from jobpulse.sidecar.history.writer import AUTO_PROCESS_ROWS, HistoryWriter
from jobpulse.sidecar.history.writer_process import WriterProcessFailed
from jobpulse.sidecar.storage.engine import create_engine
from jobpulse.sidecar.storage.migrate import migrate
from jobpulse.sidecar.store import JobStore
from tests.support.job_events import run
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import until, wait_for
from tests.support.ports import free_port
from tests.support.sidecar import SidecarProcess

TOO_BIG = 2**63


async def stored(engine, *columns):
    async with engine.connect() as connection:
        return (await connection.execute(select(*columns).order_by(jobs.c.name))).all()


@pytest.fixture
async def sqlite_file(tmp_path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite database in a file: one the writer process can open too."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'history.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()


@asynccontextmanager
async def writing(engine: AsyncEngine, **options) -> AsyncIterator[tuple[JobStore, HistoryWriter]]:
    """A store and its writer (flushing only when asked), stopped at the end."""
    store = JobStore()
    writer = HistoryWriter(engine, store, interval_s=3600, **options)
    try:
        yield store, writer
    finally:
        await writer.stop()


def large_batch():
    """Events making a batch of AUTO_PROCESS_ROWS rows and more."""
    return [event for n in range(AUTO_PROCESS_ROWS // 20) for event in run(name=f"big-{n}", log_lines=20)]


async def test_batches_are_written_by_another_process_with_refused_rows_set_aside(engine):
    async with writing(engine, process_mode="always") as (store, writer):
        store.apply_all(run(name="fine", log_lines=3) + run(name="overflowing", processed=TOO_BIG))
        await writer.flush()

        pid = await writer.writer_pid()
        assert pid is not None and pid != os.getpid()
        assert await stored(engine, jobs.c.name, jobs.c.status, jobs.c.log_lines) == [("fine", "completed", 3)]
        [fine] = (await queries.list_jobs(engine, queries.JobFilter(), limit=10)).states
        assert len(await queries.list_logs(engine, fine.id, queries.LogFilter(), 10)) == 3
        async with engine.connect() as connection:
            letters = (await connection.execute(select(dead_letters.c.kind, dead_letters.c.error))).all()
        assert [kind for kind, _ in letters] == ["job"]
        assert "OverflowError" in letters[0][1] or str(TOO_BIG) in letters[0][1], letters
        assert writer.stats.dead_letters["job"] == 1 and writer.pending == 0


async def test_a_batch_the_dying_process_had_is_kept_and_written_by_the_next(sqlite_file):
    engine = sqlite_file
    async with writing(engine, process_mode="always") as (store, writer):
        os.kill(await writer.writer_pid(), signal.SIGKILL)
        store.apply_all(run(name="survivor", log_lines=2))
        with pytest.raises(WriterProcessFailed):
            await writer.flush()
        assert writer.pending == 3, "the job and its two lines wait for the next attempt"

        await writer.flush()
        assert await stored(engine, jobs.c.name, jobs.c.log_lines) == [("survivor", 2)]
        assert writer.pending == 0


async def test_a_flush_cancelled_while_the_process_writes_counts_the_batch_once(sqlite_file):
    engine = sqlite_file
    async with writing(engine, process_mode="always") as (store, writer):
        await writer.writer_pid()  # started: the flush below hands its batch over at once
        store.apply_all(run(name="counted-once", log_lines=50))
        flush = asyncio.ensure_future(writer.flush())
        await until(lambda: writer.flushing)
        flush.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flush
        assert writer.pending == 0, "the process wrote the batch: nothing is kept to write again"

        await writer.flush()
        [(log_bytes,)] = await stored(engine, jobs.c.log_bytes)
        store.apply_all(run(name="another"))
        await writer.flush()
        assert await stored(engine, jobs.c.name, jobs.c.log_bytes) == [("another", 0), ("counted-once", log_bytes)]


class SlowClock:
    """Every batch seems to take 30 ms: over AUTO_PROCESS_SECONDS, whatever the machine does."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.03
        return self.now


async def test_auto_moves_to_the_process_after_a_large_slow_batch_and_never_stays(sqlite_file):
    engine = sqlite_file
    async with writing(engine, process_mode="auto", clock=SlowClock()) as (store, writer):
        store.apply_all(run(name="small", log_lines=5))
        await writer.flush()
        assert not writer.uses_process and await writer.writer_pid() is None, "a small batch stays here"

        store.apply_all(large_batch())
        await writer.flush()
        assert writer.uses_process
        pid = await writer.writer_pid()
        assert pid is not None and pid != os.getpid()

        writer.process_mode = "never"
        store.apply_all(run(name="after"))
        await writer.flush()
        assert not writer.uses_process and await writer.writer_pid() is None
        assert ("after",) in await stored(engine, jobs.c.name)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the process was stopped, and waited for


async def test_an_in_memory_database_is_always_written_here():
    engine = create_engine("sqlite+aiosqlite://")
    await migrate(engine)
    try:
        async with writing(engine, process_mode="always") as (_store, writer):
            assert not writer.uses_process and await writer.writer_pid() is None
    finally:
        await engine.dispose()


async def test_in_auto_a_dead_writer_process_hands_writing_back_to_the_sidecar(sqlite_file, caplog):
    engine = sqlite_file
    async with writing(engine, process_mode="auto", clock=SlowClock()) as (store, writer):
        store.apply_all(large_batch())
        await writer.flush()
        os.kill(await writer.writer_pid(), signal.SIGKILL)
        store.apply_all(run(name="survivor"))
        with pytest.raises(WriterProcessFailed):
            await writer.flush()
        assert not writer.uses_process and "writer process died" in caplog.text

        await writer.flush()
        assert ("survivor",) in await stored(engine, jobs.c.name)
        assert await writer.writer_pid() is None


def test_a_sidecar_killed_outright_leaves_no_writer_process_behind(tmp_path):
    sidecar = SidecarProcess(tmp_path, free_port(), history_writer_process="always", history_flush_interval_s=0.05)
    with sidecar:
        job = JobEmitter("killed-with-its-writer")
        post_logs(sidecar.url, [job.start(name="written-by-the-process"), job.log("a line")])
        wait_for(lambda: sidecar.get("/api/jobs", name="written-by-the-process").json()["total"] == 1)
        helpers = psutil.Process(sidecar.pid).children(recursive=True)
        assert any("spawn_main" in " ".join(helper.cmdline()) for helper in helpers), helpers
        os.kill(sidecar.pid, signal.SIGKILL)
        wait_for(lambda: not any(helper.is_running() and helper.status() != "zombie" for helper in helpers))
