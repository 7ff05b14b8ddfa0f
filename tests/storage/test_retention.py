"""The retention sweep: registered parts run in order on one pass, each reports its own counts."""

from __future__ import annotations

import asyncio
import logging

import pytest

from jobpulse.sidecar.storage.engine import create_engine
from jobpulse.sidecar.storage.policy import RetentionPolicy
from jobpulse.sidecar.storage.retention import ReportRow, RetentionCounts, RetentionSweeper, Sweep
from tests.support.job_events import T0, S

DAY = 86400 * S


class Expired(RetentionCounts):
    rows_expired: int = 0

    def rows(self, policy: RetentionPolicy) -> list[ReportRow]:
        return [("rows", f"{self.rows_expired:,}", "")]


class Purged(RetentionCounts):
    rows_purged: int = 0

    def rows(self, policy: RetentionPolicy) -> list[ReportRow]:
        return [("purged", f"{self.rows_purged:,}", "")]


class Unregistered(RetentionCounts):
    pass


@pytest.fixture
async def engine(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'retention.db'}")
    yield engine
    await engine.dispose()


async def test_parts_run_in_the_order_registered_and_each_reports_its_counts(engine):
    seen: list[tuple[str, Sweep]] = []

    async def expire(sweep: Sweep) -> Expired:
        seen.append(("expire", sweep))
        await sweep.batch_done("expired rows", 3)
        return Expired(rows_expired=3)

    async def purge(sweep: Sweep) -> Purged:
        seen.append(("purge", sweep))
        return Purged()

    sweeper = RetentionSweeper(engine, RetentionPolicy(job_days=2), [expire], clock_ns=lambda: T0 + 5 * DAY)
    sweeper.register(purge)
    progress: list[tuple[str, int]] = []
    report = await sweeper.sweep(dry_run=True, progress=lambda phase, done: progress.append((phase, done)))

    assert [name for name, _ in seen] == ["expire", "purge"]
    handed = seen[0][1]
    assert (handed.engine, handed.dry_run, handed.cutoff_ns()) == (engine, True, T0 + 3 * DAY)
    assert progress == [("expired rows", 3)]
    assert report.dry_run and [type(counts) for counts in report.parts] == [Expired, Purged]
    assert report.part(Expired).rows_expired == 3
    assert report.removed() == {"rows_expired": 3}, "only what was removed"
    with pytest.raises(KeyError, match="Unregistered"):
        report.part(Unregistered)


class Heard(logging.Handler):
    """Keeps the records it hears and wakes whoever waits for the first."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.first = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.first.set()


async def test_the_periodic_sweep_logs_what_it_removed(engine):
    async def expire(sweep: Sweep) -> Expired:
        return Expired(rows_expired=1234)

    heard = Heard()
    logger = logging.getLogger("jobpulse.sidecar.retention")
    logger.addHandler(heard)
    level, logger.level = logger.level, logging.INFO
    sweeper = RetentionSweeper(engine, RetentionPolicy(), [expire], interval_s=0.01)
    try:
        await sweeper.start()
        await asyncio.wait_for(heard.first.wait(), timeout=10)
    finally:
        await sweeper.stop()
        logger.removeHandler(heard)
        logger.setLevel(level)
    assert heard.records[0].getMessage() == "retention: rows expired 1,234"
