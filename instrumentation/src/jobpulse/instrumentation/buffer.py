"""What waits for export: the job records, in emission order, and the spans.

Neither buffer locks: the delivery processor guards both with its own lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from jobpulse.conventions import EVENT_PROGRESS, EVENT_RESOURCES, LIFECYCLE_EVENTS

# Kinds of record: what survives a failed export and what may be dropped.
LIFECYCLE = 0  # never dropped
LINE = 1  # the oldest are dropped when the buffer is full
DERIVED = 2  # progress and resources: dropped after a failed export, derived afresh from the jobs

_DERIVED_EVENTS = frozenset({EVENT_PROGRESS, EVENT_RESOURCES})

Entry = tuple[int, Any]


def kind_of(event_name: str | None) -> int:
    """The kind of a record with this event name (None: a job log line)."""
    if event_name in _DERIVED_EVENTS:
        return DERIVED
    if event_name in LIFECYCLE_EVENTS:
        return LIFECYCLE
    return LINE


class RecordBuffer:
    """Job records waiting for export, in one queue in emission order.

    One queue keeps a job's log lines and events in the order they happened (a log line never
    arrives after the job's end). Log lines are bounded by `line_limit`: beyond it the oldest are
    dropped and counted in `dropped_lines`. Nothing else is dropped, except derived records of a batch
    whose export failed.
    """

    def __init__(self, line_limit: int) -> None:
        self.line_limit = line_limit
        self._entries: deque[Entry] = deque()
        self._lines = 0
        self.dropped_lines = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, record: Any, kind: int) -> None:
        self._entries.append((kind, record))
        if kind == LINE:
            self._lines += 1
            self._trim_lines()

    def take(self, limit: int) -> list[Entry]:
        """Remove and return the oldest entries, at most `limit` of them."""
        batch = [self._entries.popleft() for _ in range(min(limit, len(self._entries)))]
        self._lines -= sum(1 for kind, _ in batch if kind == LINE)
        return batch

    def restore(self, batch: Sequence[Entry]) -> int:
        """Put back in front a batch whose export failed, without its derived records; return how many those were."""
        kept = [entry for entry in batch if entry[0] != DERIVED]
        self._entries.extendleft(reversed(kept))
        self._lines += sum(1 for kind, _ in kept if kind == LINE)
        self._trim_lines()
        return len(batch) - len(kept)

    def _trim_lines(self) -> None:
        """Over the bound, drop the oldest log lines down to 90% of it, keeping every other record.

        Dropping a tenth at a time makes a flood during an outage cost one pass per many lines.
        """
        limit = self.line_limit
        if self._lines <= limit:
            return
        excess = self._lines - limit + max(limit // 10, 1)
        kept: deque[Entry] = deque()
        for entry in self._entries:
            if excess and entry[0] == LINE:
                excess -= 1
                self._lines -= 1
                self.dropped_lines += 1
            else:
                kept.append(entry)
        self._entries = kept


class SpanBuffer:
    """Ended spans waiting for export, at most `limit` of them (the oldest are dropped beyond)."""

    def __init__(self, limit: int) -> None:
        self._spans: deque[Any] = deque(maxlen=limit)

    def __len__(self) -> int:
        return len(self._spans)

    def add(self, span: Any) -> None:
        self._spans.append(span)

    def take(self, limit: int) -> list[Any]:
        """Remove and return the oldest spans, at most `limit` of them."""
        return [self._spans.popleft() for _ in range(min(limit, len(self._spans)))]

    def restore(self, spans: Sequence[Any]) -> None:
        """Put back in front spans whose export failed, as many as the bound leaves room for (the newest)."""
        room = self._spans.maxlen - len(self._spans)  # type: ignore[operator]
        self._spans.extendleft(reversed(spans[max(len(spans) - room, 0) :]))
