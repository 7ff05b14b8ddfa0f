"""Blocking access to asyncio code: an event loop in a thread of its own, and iterators over it.

The live feed is asyncio code. The blocking ``Client`` runs it here, so that its connection keeps
being served (keepalive pings answered, frames read) while the caller's thread does other work.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Iterator
from typing import Any, Generic, TypeVar

from jobpulse.client.backoff import ConnectionState
from jobpulse.client.feed import Feed
from jobpulse.client.messages import FeedMessage, UnknownMessage

T = TypeVar("T")


class Portal:
    """An event loop running in a daemon thread; :meth:`run` runs a coroutine there and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="jobpulse-client", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """The coroutine's result (or exception); an interrupted wait cancels it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


async def _next(iterator: AsyncIterator[T]) -> tuple[bool, T | None]:
    try:
        return True, await anext(iterator)
    except StopAsyncIteration:
        return False, None


class BlockingIterator(Generic[T]):
    """A blocking iterator over an async iterator that lives in a :class:`Portal`; a context manager
    whose exit (or :meth:`close`) closes the async iterator."""

    def __init__(self, portal: Portal, iterator: AsyncIterator[T]) -> None:
        self.portal = portal
        self.iterator = iterator
        # The step a timed-out next() left running: the following call takes it up, so that what it
        # brings is not lost (cancelling it would end an async generator for good).
        self._step: asyncio.Task[tuple[bool, T | None]] | None = None

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        return self.next()

    def next(self, timeout: float | None = None) -> T:
        """The next item, waiting at most ``timeout`` seconds (None: as long as it takes).

        TimeoutError when nothing came in time; the item still on its way is the one the next call
        returns. StopIteration once the iterator has ended.
        """
        more, item = self.portal.run(self._advance(timeout))
        if not more:
            raise StopIteration
        return item  # type: ignore[return-value]

    async def _advance(self, timeout: float | None) -> tuple[bool, T | None]:
        if self._step is None:
            self._step = asyncio.ensure_future(_next(self.iterator))
        done, _ = await asyncio.wait({self._step}, timeout=timeout)
        if not done:
            raise TimeoutError(f"nothing arrived within {timeout} s")
        step, self._step = self._step, None
        return step.result()

    async def _abandon(self) -> None:
        """Cancel a step a timed-out next() left running."""
        step, self._step = self._step, None
        if step is not None:
            step.cancel()
            await asyncio.wait({step})
            if not step.cancelled():
                step.exception()  # retrieved: it ended on its own before the cancel, and is dropped

    def __enter__(self) -> BlockingIterator[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.portal.run(self._close())

    async def _close(self) -> None:
        await self._abandon()
        if isinstance(self.iterator, AsyncGenerator):
            await self.iterator.aclose()


class SyncFeed(BlockingIterator[FeedMessage | UnknownMessage]):
    """The live feed as a blocking iterator (see :class:`jobpulse.client.feed.Feed`)."""

    def __init__(self, portal: Portal, feed: Feed) -> None:
        super().__init__(portal, feed)
        self.feed = feed

    def __enter__(self) -> SyncFeed:
        return self

    @property
    def state(self) -> ConnectionState:
        return self.feed.state

    @property
    def cursor(self) -> int | None:
        return self.feed.cursor

    def connect(self, timeout: float | None = None) -> None:
        """Connect now and return once the sidecar serves the connection, so that everything it
        publishes from then on arrives (see :meth:`jobpulse.client.feed.Feed.connect`); before
        iterating. TimeoutError after ``timeout`` seconds."""
        self.portal.run(self._connect(timeout))

    async def _connect(self, timeout: float | None) -> None:
        if self._step is not None:
            raise RuntimeError("connect() is for before iterating: the feed is already connecting")
        async with asyncio.timeout(timeout):
            await self.feed.connect()

    async def _close(self) -> None:
        await self._abandon()
        await self.feed.close()
