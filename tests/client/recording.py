"""Watching a live feed from a test: a recorder that keeps every message and state, and an awaitable
condition with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from jobpulse.client import Feed, Filters, JobProgress, JobStatusUpdate, Resync, Snapshot
from jobpulse.client.backoff import ConnectionState

T = TypeVar("T")


async def eventually(predicate: Callable[[], T], timeout: float = 15.0) -> T:
    """The first truthy value of ``predicate()``, checked while the event loop runs on."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        await asyncio.sleep(0.01)
    return value


async def eventually_async(read: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 15.0) -> T:
    """The first value ``read()`` gives that passes ``check``, within ``timeout`` seconds."""

    async def until() -> T:
        while not check(found := await read()):
            await asyncio.sleep(0.01)
        return found

    return await asyncio.wait_for(until(), timeout)


class Recorder:
    """Iterates a feed in a task, keeping every message and every connection state."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.messages: list[Any] = []
        self.states: list[ConnectionState] = []
        feed.on_state = self.states.append
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for message in self.feed:
            self.messages.append(message)

    async def stop(self) -> None:
        await self.feed.close()
        await self.task

    def of_job(self, job_id: str, kind: type) -> list[Any]:
        return [message for message in self.messages if isinstance(message, kind) and message.data.id == job_id]

    def progress(self, job_id: str) -> list[JobProgress]:
        return self.of_job(job_id, JobProgress)

    def ended(self, job_id: str) -> bool:
        return any(update.data.ended for update in self.of_job(job_id, JobStatusUpdate))

    def resyncs(self) -> list[Resync]:
        return [message for message in self.messages if isinstance(message, Resync)]


# An unfiltered feed at full progress rate: every published message arrives.
EVERY_CHANGE = Filters(progress_hz=0)


def assert_no_silent_gap(messages: list[Any]) -> None:
    """Each message of an unfiltered feed at full progress rate (EVERY_CHANGE) follows the one before
    it by one cursor, unless it is a snapshot or a resync, which say where the count starts again."""
    previous: int | None = None
    for message in messages:
        if isinstance(message, Snapshot | Resync):
            previous = message.cursor
            continue
        assert previous is not None, f"{type(message).__name__} before any snapshot"
        assert message.cursor == previous + 1, f"gap before {type(message).__name__}: {previous} -> {message.cursor}"
        previous = message.cursor
