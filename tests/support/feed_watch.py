"""Watching the live feed from a test through ``jobpulse.client``: every message kept in order, and
waits that end at a deadline, so that a test never blocks on the feed for good."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from jobpulse.client import (
    AlertUpdate,
    Backoff,
    Client,
    ConnectionState,
    Filters,
    JobLog,
    JobProgress,
    JobStatusUpdate,
)

M = TypeVar("M")


def job_id_of(message: Any) -> str | None:
    """The job a message is about; None for snapshots and resyncs, which list many."""
    if isinstance(message, JobStatusUpdate | JobProgress):
        return message.data.id
    if isinstance(message, JobLog | AlertUpdate):
        return message.data.job_id
    return None


def anything(message: Any) -> bool:
    return True


class FeedWatch:
    """The live feed of the sidecar at ``url`` (a blocking ``jobpulse.client`` feed with ``filters``,
    resuming after ``cursor`` when given), connected on creation and read into :attr:`messages` as
    a test waits on it; :attr:`states` has each state of its connection.

    Without ``filters`` it hears every change: the feed's default progress rate for list watchers
    would make what a test sees depend on timing (tests of that rate pass their own filters).
    """

    def __init__(
        self,
        url: str,
        filters: Filters | None = None,
        *,
        cursor: int | None = None,
        token: str | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = Client(url, token)
        self.feed = self.client.feed(filters or Filters(progress_hz=0), cursor=cursor, backoff=backoff)
        self.messages: list[Any] = []
        self.states: list[ConnectionState] = []
        self.feed.feed.on_state = self.states.append
        # Listening before the test goes on, as a dashboard open before a job starts would be.
        try:
            self.feed.connect(timeout=10)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> FeedWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.feed.close()
        self.client.close()

    def receive(self, timeout: float) -> Any:
        """The next message, within ``timeout`` seconds (TimeoutError otherwise), kept with the others."""
        try:
            message = self.feed.next(timeout)
        except StopIteration:
            raise AssertionError(f"the feed ended; state {self.feed.state}") from None
        self.messages.append(message)
        return message

    def wait_for(self, kind: type[M], where: Callable[[M], bool] = anything, timeout: float = 10.0) -> M:
        """The first message of type ``kind`` for which ``where`` holds, among those received already or
        arriving within ``timeout`` seconds."""
        for message in self.messages:
            if isinstance(message, kind) and where(message):
                return message
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = self.receive(remaining)
            except TimeoutError:
                break
            if isinstance(message, kind) and where(message):
                return message
        raise AssertionError(f"no matching {kind.__name__} within {timeout} s; got {self.kinds()}")

    def drain(self, quiet: float = 0.3) -> list[Any]:
        """Receive until nothing arrives for ``quiet`` seconds; every message received."""
        while True:
            try:
                self.receive(quiet)
            except TimeoutError:
                return self.messages

    def of_job(self, job_id: str, *kinds: type) -> list[Any]:
        """The messages about job ``job_id`` (of these types, when given), in order."""
        return [
            message
            for message in self.messages
            if (not kinds or isinstance(message, kinds)) and job_id_of(message) == job_id
        ]

    def kinds(self) -> list[str]:
        return [type(message).__name__ for message in self.messages]
