"""BackgroundTasks: the asyncio tasks a component runs while the sidecar does.

Components start their loops in their ``start()`` and end them in ``stop()``; this keeps the
create/cancel/await dance in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger("jobpulse.sidecar")

# Seconds, or a function that says how many: a loop given a function reads it before every wait, so a
# setting changed while the sidecar runs takes effect from the next turn.
Interval = float | Callable[[], float]


def _seconds(interval: Interval) -> float:
    return interval() if callable(interval) else interval


class BackgroundTasks:
    """Named tasks started one by one and cancelled together."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    def every(self, interval_s: Interval, step: Callable[[], Any], name: str) -> None:
        """Run ``step`` (a function or a coroutine function) every ``interval_s`` seconds.

        A failing step is logged and tried again next time: one bad tick must not end the loop.
        """
        self.spawn(_repeat(interval_s, step, name), name)

    def retrying(
        self,
        interval_s: Interval,
        step: Callable[[], Awaitable[Any]],
        name: str,
        *,
        failed: Callable[[Exception, bool], None],
        recovered: Callable[[], None],
        max_backoff_s: float = 10.0,
    ) -> None:
        """Await ``step()`` every ``interval_s`` seconds; after a failure wait twice as long each time,
        up to ``max_backoff_s``, until it works again.

        ``failed(error, first)`` hears of every failure (``first`` when it starts an outage),
        ``recovered()`` of the first success after one.
        """
        self.spawn(_retry(interval_s, step, failed, recovered, max_backoff_s), name)

    @property
    def running(self) -> bool:
        """Whether tasks were started and none has ended (a crashed loop shows up here)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def cancel(self) -> None:
        """Cancel every task and wait for each to finish."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


async def _repeat(interval_s: Interval, step: Callable[[], Any], name: str) -> None:
    while True:
        await asyncio.sleep(_seconds(interval_s))
        try:
            result = step()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("%s failed", name)


async def _retry(
    interval_s: Interval,
    step: Callable[[], Awaitable[Any]],
    failed: Callable[[Exception, bool], None],
    recovered: Callable[[], None],
    max_backoff_s: float,
) -> None:
    delay = _seconds(interval_s)
    failing = False
    while True:
        await asyncio.sleep(delay)
        try:
            await step()
        except Exception as error:
            failed(error, not failing)
            failing = True
            delay = min(delay * 2, max(max_backoff_s, _seconds(interval_s)))
            continue
        if failing:
            recovered()
            failing = False
        delay = _seconds(interval_s)
