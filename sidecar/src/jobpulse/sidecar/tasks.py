"""BackgroundTasks: the asyncio tasks a component runs while the sidecar does.

Components start their loops in their ``start()`` and end them in ``stop()``; this keeps the
create/cancel/await dance in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("jobpulse.sidecar")


class BackgroundTasks:
    """Named tasks started one by one and cancelled together."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    def every(self, interval_s: float, step: Callable[[], Any], name: str) -> None:
        """Run ``step`` (a function or a coroutine function) every ``interval_s`` seconds.

        A failing step is logged and tried again next time: one bad tick must not end the loop.
        """
        self.spawn(_repeat(interval_s, step, name), name)

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


async def _repeat(interval_s: float, step: Callable[[], Any], name: str) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            result = step()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("%s failed", name)
