"""Waiters: the long polls waiting for commands, by job id, so a command wakes only its job's polls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class Waiters:
    """Each waiting poll holds one event, registered under every job id it polls for.

    A poll registers before it reads the database and clears its event before each read: a wake-up
    that comes while it reads is kept, and the poll reads again instead of waiting.
    """

    def __init__(self) -> None:
        self._by_job: dict[str, set[asyncio.Event]] = {}
        self._all: set[asyncio.Event] = set()

    @property
    def waiting(self) -> int:
        """Polls registered now."""
        return len(self._all)

    @contextmanager
    def register(self, job_ids: list[str]) -> Iterator[asyncio.Event]:
        """An event set whenever a command for one of ``job_ids`` may have been made."""
        event = asyncio.Event()
        self._all.add(event)
        for job_id in job_ids:
            self._by_job.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            self._all.discard(event)
            for job_id in job_ids:
                events = self._by_job.get(job_id)
                if events is not None:
                    events.discard(event)
                    if not events:
                        del self._by_job[job_id]

    def wake(self, job_id: str) -> None:
        """Wake the polls waiting for ``job_id``."""
        for event in self._by_job.get(job_id, ()):
            event.set()

    def wake_all(self) -> None:
        """Wake every poll: something changed that all of them must look at."""
        for event in self._all:
            event.set()
