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

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        more, item = self.portal.run(_next(self.iterator))
        if not more:
            raise StopIteration
        return item  # type: ignore[return-value]

    def __enter__(self) -> BlockingIterator[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if isinstance(self.iterator, AsyncGenerator):
            self.portal.run(self.iterator.aclose())


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

    def close(self) -> None:
        self.portal.run(self.feed.close())
