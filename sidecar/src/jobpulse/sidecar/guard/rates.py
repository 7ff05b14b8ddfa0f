"""Rate-limit budgets and the fixed-window counters behind them.

Two counters, chosen by ``rate_limit_storage_url``:

- ``memory://`` (default): :class:`LocalWindows`, a dict of fixed windows in this process. A check costs
  about 0.6 µs; the ``limits`` library's own memory storage costs 7 µs (it takes an asyncio
  lock and schedules an expiry task on every hit), which the ingest path does not need: the event loop
  is the only writer.
- ``redis://`` / ``rediss://``: :class:`SharedWindows`, the ``limits`` library's fixed-window limiter
  on Redis (one atomic ``INCR`` with expiry per request), so every replica counts against the same
  budgets. A Redis that fails or times out lets requests through (counted in
  ``storage_errors`` and logged when it starts and stops failing): the limits protect the sidecar,
  they must not take it down.

Both use the same window: it opens at a key's first request and lasts the budget's period; requests
past the budget's amount are refused until it closes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import limits
from limits.errors import StorageError

log = logging.getLogger("jobpulse.sidecar.guard")

# A Redis that does not answer within this lets the request through rather than holding it.
_REDIS_TIMEOUT_S = 0.5
# LocalWindows drops closed windows when it holds more keys than this.
_SWEEP_ABOVE = 10_000


class Budget:
    """One rate limit: ``amount`` requests per ``window_s`` seconds for each key, named after its setting."""

    __slots__ = ("amount", "item", "name", "rate", "setting", "window_s")

    def __init__(self, name: str, setting: str, rate: str) -> None:
        self.name = name
        self.setting = setting
        self.rate = rate
        self.item = limits.parse(rate)
        self.amount: int = self.item.amount
        self.window_s: int = self.item.get_expiry()


class WindowCounter(Protocol):
    """Counts requests per (budget, key)."""

    storage_errors: int

    async def hit(self, budget: Budget, key: str) -> float | None:
        """Count a request; None when it is within the budget, else the seconds until the window closes."""
        ...

    async def close(self) -> None: ...


class LocalWindows:
    """Fixed windows in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.storage_errors = 0
        # (budget name, key) -> [closes at, requests counted]
        self._windows: dict[tuple[str, str], list[float]] = {}

    async def hit(self, budget: Budget, key: str) -> float | None:
        now = self.clock()
        slot = (budget.name, key)
        window = self._windows.get(slot)
        if window is None or window[0] <= now:
            if window is None and len(self._windows) > _SWEEP_ABOVE:
                self._sweep(now)
            self._windows[slot] = [now + budget.window_s, 1]
            return None
        window[1] += 1
        return None if window[1] <= budget.amount else window[0] - now

    def _sweep(self, now: float) -> None:
        self._windows = {slot: window for slot, window in self._windows.items() if window[0] > now}

    async def close(self) -> None:
        self._windows.clear()


class SharedWindows:
    """Fixed windows in Redis, shared by every replica that uses the same server."""

    def __init__(self, url: str) -> None:
        # Imported only for a shared counter: the Redis client is a tenth of a second of every start.
        import redis.asyncio
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import FixedWindowRateLimiter

        self.url = url
        self.storage_errors = 0
        self._failing = False
        self._pool = redis.asyncio.ConnectionPool.from_url(
            url, socket_timeout=_REDIS_TIMEOUT_S, socket_connect_timeout=_REDIS_TIMEOUT_S
        )
        storage = RedisStorage(
            "async+" + url,
            implementation="redispy",
            wrap_exceptions=True,
            key_prefix="jobpulse",
            connection_pool=self._pool,
        )
        self._limiter = FixedWindowRateLimiter(storage)

    async def hit(self, budget: Budget, key: str) -> float | None:
        try:
            if await self._limiter.hit(budget.item, budget.name, key):
                self._recovered()
                return None
            stats = await self._limiter.get_window_stats(budget.item, budget.name, key)
        except StorageError as error:
            self.storage_errors += 1
            if not self._failing:
                self._failing = True
                log.warning(
                    "rate-limit storage %s failed (%s); requests pass unlimited until it answers",
                    _masked(self.url),
                    error.storage_error,
                )
            return None
        self._recovered()
        return max(stats.reset_time - time.time(), 0.0)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.warning("rate-limit storage %s answers again; limits apply", _masked(self.url))

    async def close(self) -> None:
        await self._pool.disconnect()


def _masked(url: str) -> str:
    """``url`` without its password."""
    scheme, _, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    return f"{scheme}://***@{location}" if at and credentials else url


def open_counter(storage_url: str) -> WindowCounter:
    """The counter for ``rate_limit_storage_url`` (validated by the settings: memory or Redis)."""
    if storage_url == "memory://":
        return LocalWindows()
    return SharedWindows(storage_url)
