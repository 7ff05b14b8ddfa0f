"""The retention sweep: each feature registers what it expires, and the sweeper runs every part in turn.

A part is an async function of one ``Sweep`` that returns its counts (a ``RetentionCounts``). Parts
work in small batches, one short transaction each, and call ``Sweep.batch_done`` in between, which
reports progress and yields to the event loop: a sweep never holds up ingest or the history writer for
long. Rows are past their time when they are older than ``Sweep.cutoff_ns()``; how much else to keep is
the RetentionPolicy's to say.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import msgspec
from sqlalchemy import ColumnElement, Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobpulse.sidecar.storage.policy import RetentionPolicy
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.retention")

Progress = Callable[[str, int], None]
# One line of ``jobpulse prune``'s table: the rule, then what it removed (two columns).
ReportRow = tuple[str, str, str]


class RetentionCounts(msgspec.Struct):
    """What one part of a sweep removed (or, for a dry run, would remove).

    Each part subclasses it with its counts (integer fields) and says how ``jobpulse prune`` shows them.
    """

    def rows(self, policy: RetentionPolicy) -> list[ReportRow]:
        """The lines of ``jobpulse prune``'s table for this part."""
        raise NotImplementedError

    def note(self) -> str | None:
        """A line under ``jobpulse prune``'s table, if this part has one."""
        return None

    def removed(self) -> dict[str, int]:
        """The counts that are not zero, by name."""
        return {name: count for name, count in msgspec.structs.asdict(self).items() if count}


Counts = TypeVar("Counts", bound=RetentionCounts)


class Sweep(msgspec.Struct, frozen=True):
    """One pass of the sweep, as each registered part sees it."""

    engine: AsyncEngine
    policy: RetentionPolicy
    dry_run: bool
    clock_ns: Callable[[], int]
    progress: Progress | None = None

    def cutoff_ns(self) -> int:
        """Rows older than this, by their own time, are past ``policy.job_days``."""
        return self.clock_ns() - int(self.policy.job_days * 86400 * 1e9)

    async def expire(self, connection: AsyncConnection, table: Table, condition: ColumnElement[bool]) -> int:
        """Delete the rows of ``table`` matching ``condition`` and say how many; on a dry run, only count them."""
        if self.dry_run:
            return (await connection.execute(select(func.count()).select_from(table).where(condition))).scalar_one()
        return (await connection.execute(delete(table).where(condition))).rowcount

    async def batch_done(self, phase: str, done: int) -> None:
        """Between two batches: say how far ``phase`` got, then let the event loop run everything else."""
        if self.progress:
            self.progress(phase, done)
        await asyncio.sleep(0)


RetentionPart = Callable[[Sweep], Awaitable[RetentionCounts]]


class RetentionReport(msgspec.Struct):
    """What one sweep removed (or, for a dry run, would remove): each part's counts, in the parts' order."""

    dry_run: bool
    parts: list[RetentionCounts] = msgspec.field(default_factory=list)

    def part(self, kind: type[Counts]) -> Counts:
        """The counts of the part that reports in ``kind``."""
        for counts in self.parts:
            if isinstance(counts, kind):
                return counts
        raise KeyError(f"no retention part reported {kind.__name__}")

    def removed(self) -> dict[str, int]:
        """Every part's counts that are not zero, by name."""
        return {name: count for counts in self.parts for name, count in counts.removed().items()}


class RetentionSweeper:
    """Applies a RetentionPolicy to the database through the parts features register."""

    def __init__(
        self,
        engine: AsyncEngine,
        policy: RetentionPolicy,
        parts: Iterable[RetentionPart] = (),
        *,
        interval_s: float = 60.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.parts = list(parts)
        self.interval_s = interval_s
        self.clock_ns = clock_ns
        self._tasks = BackgroundTasks()

    def register(self, part: RetentionPart) -> None:
        """Add a feature's part to every sweep; parts run, and report, in the order they were registered."""
        self.parts.append(part)

    async def sweep(self, *, dry_run: bool = False, progress: Progress | None = None) -> RetentionReport:
        """One full pass: every part, in turn."""
        sweep = Sweep(self.engine, self.policy, dry_run, self.clock_ns, progress)
        return RetentionReport(dry_run, [await part(sweep) for part in self.parts])

    async def start(self) -> None:
        self._tasks.every(lambda: self.interval_s, self._sweep_and_report, "retention sweep")

    async def stop(self) -> None:
        await self._tasks.cancel()

    async def _sweep_and_report(self) -> None:
        removed = (await self.sweep()).removed()
        if removed:
            log.info(
                "retention: %s", ", ".join(f"{name.replace('_', ' ')} {count:,}" for name, count in removed.items())
            )
