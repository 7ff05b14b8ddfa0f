"""BackgroundTasks: the asyncio tasks a component runs while the sidecar does.

Components start their loops in their ``start()`` and end them in ``stop()``; this keeps the
create/cancel/await dance in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class BackgroundTasks:
    """Named tasks started one by one and cancelled together."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

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
