"""The history writer process: history batches written by a process of their own, on another core.

Writing a batch is mostly the database's and the SQL driver's work (SQLite's upserts and index updates
run in aiosqlite's thread, which shares the event loop's interpreter lock). In a process of its own it
runs beside the event loop instead of taking turns with it. A batch crosses as one msgpack message
(job states and log rows); the rows set aside come back as plain values.

The process is a single-worker ``ProcessPoolExecutor`` started with ``spawn`` (the sidecar runs
threads; forking it would copy their locks). It opens its own engine on the same database URL and
never migrates it: the sidecar did before starting it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import msgspec

from jobpulse.sidecar.history.batches import BatchWriter, Refusal
from jobpulse.sidecar.model.state import JobState
from jobpulse.sidecar.storage.engine import create_engine

T = TypeVar("T")

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(tuple[list[JobState], list[dict[str, Any]]]).decode


class WriterProcessFailed(Exception):
    """The writer process died; the batch it had was not confirmed and is kept for the next attempt."""


class WriterProcess:
    """Writes history batches to the database at ``url`` from a process of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: ProcessPoolExecutor | None = None

    async def write(self, states: list[JobState], lines: list[dict[str, Any]]) -> list[Refusal]:
        """Write a batch in the process (started on first use); return the rows set aside."""
        return await self._call(_write, _encode((states, lines)))

    async def pid(self) -> int:
        """The process's id (started on first use)."""
        return await self._call(os.getpid)

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_open, initargs=(self.url,)
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)
        except BrokenProcessPool as error:
            await self.close()
            raise WriterProcessFailed(f"the history writer process died: {error}") from None

    async def close(self) -> None:
        """Stop the process once its batch under way, if any, is done."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True)


# ---- in the writer process ----------------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_writer: BatchWriter | None = None


def _open(url: str) -> None:
    global _loop, _writer
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), name="parent-watch", daemon=True).start()
    _loop = asyncio.new_event_loop()
    _writer = BatchWriter(create_engine(url))


def _exit_with(parent_sentinel: int) -> None:
    # A sidecar killed outright (SIGKILL, OOM) cannot stop its writer: the writer stops itself. Its
    # batch under way is rolled back by the database, as it would be had the sidecar written it.
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(1)


def _write(payload: bytes) -> list[Refusal]:
    assert _loop is not None and _writer is not None, "the writer process was not initialised"
    states, lines = _decode(payload)
    return _loop.run_until_complete(_writer.write(states, lines))
