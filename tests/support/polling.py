"""Waiting on a condition with a deadline: the only synchronisation tests use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01) -> T:
    """Return the first truthy value of `predicate()`, polling until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


async def until(predicate: Callable[[], T], timeout: float = 10.0) -> T:
    """`wait_for` inside an event loop: polls between turns of the loop, so tasks go on meanwhile."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        await asyncio.sleep(0.001)
    return value
