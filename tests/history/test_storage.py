"""The storage suite: the same tests against a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobpulse.sidecar.history import queries
from jobpulse.sidecar.history.plugin import HistoryFeature
from jobpulse.sidecar.history.retention import DeadLetterCounts, JobCounts
from jobpulse.sidecar.history.service import History
from jobpulse.sidecar.history.tables import MARKER_SEQ, dead_letters, job_logs, jobs
from jobpulse.sidecar.history.writer import HistoryWriter
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.storage.engine import create_engine
from jobpulse.sidecar.storage.migrate import migrate
from jobpulse.sidecar.storage.policy import RetentionPolicy
from jobpulse.sidecar.storage.retention import RetentionSweeper
from jobpulse.sidecar.store import JobStore
from tests.support.job_events import T0, S, run

DAY = 86400 * S


@pytest.fixture
async def history(database_url):
    store = JobStore()
    service = History(create_engine(database_url), store, flush_interval_s=3600, max_pending_lines=100_000)
    await migrate(service.engine)
    yield service
    await service.engine.dispose()


async def persist(history: History, *runs: list[JobEvent]) -> None:
    for events in runs:
        history.store.apply_all(events)
    await history.writer.flush()


async def scalar(history: History, query):
    async with history.engine.connect() as connection:
        return (await connection.execute(query)).scalar_one()


async def test_writes_are_idempotent_under_replay(history, database_url):
    events = run(name="replayed", steps=(("parse", 1.5), ("load", 2.5)), log_lines=30, processed=50)
    await persist(history, events)
    # A crash and a replay: a fresh process receives every event again.
    again = History(create_engine(database_url), JobStore(), flush_interval_s=3600, max_pending_lines=1000)
    await persist(again, events, events)
    await again.engine.dispose()
    assert await scalar(history, select(func.count()).select_from(jobs)) == 1
    assert await scalar(history, select(func.count()).select_from(job_logs)) == 30
    state = await queries.get_state(history.engine, events[0].job_id)
    assert state == history.store.get(events[0].job_id), "the stored state is the folded state, exactly"
    assert [(step.name, step.duration_ns) for step in state.steps] == [
        ("parse", 1_500_000_000),
        ("load", 2_500_000_000),
    ]


async def test_a_stray_late_event_does_not_overwrite_a_finished_job(history, database_url):
    events = run(name="finished", processed=9)
    await persist(history, events)
    stray = History(create_engine(database_url), JobStore(), flush_interval_s=3600, max_pending_lines=1000)
    late = JobEvent(kind="log", job_id=events[0].job_id, seq=99, time_ns=T0, level="info", message="late")
    await persist(stray, [late])
    await stray.engine.dispose()
    state = await queries.get_state(history.engine, events[0].job_id)
    assert (state.name, state.status, state.processed) == ("finished", "completed", 9)
    assert await scalar(history, select(func.count()).select_from(job_logs)) == 1, "the line itself is kept"


@pytest.mark.parametrize("narrow_search", [2000, 0], ids=["narrow-plan", "broad-plan"])
async def test_filters_sorts_and_totals(history, monkeypatch, narrow_search):
    monkeypatch.setattr(queries, "_NARROW_SEARCH", narrow_search)
    runs = [
        run(name="orders-import", job_type="csv", start_ns=T0 + 1 * S, duration_s=10),
        run(
            name="orders-export",
            job_type="csv",
            start_ns=T0 + 2 * S,
            duration_s=30,
            status="failed",
            error_type="ValueError",
            error_message="bad header in orders.csv",
        ),
        run(name="crm-upload", job_type="api", owner="crm", start_ns=T0 + 3 * S, duration_s=5, status="cancelled"),
        run(
            name="Warehouse-Load",
            job_type="db",
            start_ns=T0 + 4 * S,
            duration_s=60,
            status="failed",
            error_type="IntegrityError",
            error_message="duplicate key 42",
        ),
        run(name="crm-sync", job_type="api", owner="crm", start_ns=T0 + 5 * S, status=None),
    ]
    await persist(history, *runs)
    ids = [events[0].job_id for events in runs]

    async def listed(sort="-started_at", **conditions):
        page = await history.list_jobs(queries.JobFilter(**conditions), sort=sort, limit=50)
        assert page.total == len(page.states)
        return [ids.index(state.id) for state in page.states]

    assert await listed() == [4, 3, 2, 1, 0]
    assert await listed(statuses=["failed", "cancelled"]) == [3, 2, 1]
    assert await listed(job_type="api") == [4, 2]
    assert await listed(owner="crm", statuses=["running"]) == [4]
    assert await listed(name="ORDERS") == [1, 0]
    assert await listed(name="warehouse") == [3]
    assert await listed(name_prefix="crm-") == [4, 2]
    assert await listed(text="duplicate KEY") == [3]
    assert await listed(text="orders") == [1, 0]
    assert await listed(text="orders", statuses=["failed"]) == [1]
    assert await listed(name_prefix="crm-", job_type="api", statuses=["cancelled"]) == [2]
    assert await listed(name="100%_") == []
    assert await listed(started_after=T0 + 2 * S, started_before=T0 + 4 * S) == [2, 1]
    assert await listed(ended_after=T0 + 20 * S) == [3, 1]
    assert await listed(min_duration_s=10, max_duration_s=30) == [1, 0]
    assert await listed("duration") == [4, 2, 0, 1, 3], "unfinished jobs have no duration and sort first"
    assert await listed("-name") == [3, 0, 1, 2, 4], "names sort case-insensitively"


async def test_cursor_pages_stay_stable_while_new_jobs_arrive(history):
    await persist(history, *(run(name=f"job-{n}", start_ns=T0 + n * S) for n in range(25)))
    seen = []
    page = await history.list_jobs(queries.JobFilter(), limit=10)
    seen += [state.name for state in page.states]
    await persist(history, *(run(name=f"newer-{n}", start_ns=T0 + (100 + n) * S) for n in range(5)))
    while page.next_cursor:
        page = await history.list_jobs(queries.JobFilter(), limit=10, cursor=page.next_cursor)
        seen += [state.name for state in page.states]
    assert seen == [f"job-{n}" for n in range(24, -1, -1)]
    with pytest.raises(queries.CursorError):
        await history.list_jobs(queries.JobFilter(), sort="duration", cursor=page.next_cursor or "bm9wZQ")


async def test_a_count_over_its_time_budget_gives_way_and_the_connection_stays_usable(history):
    slow = text(
        "WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < 20000000) "
        "SELECT count(*) FROM numbers"
    )
    async with history.engine.connect() as connection:
        started = time.perf_counter()
        assert await queries.count_within_budget(connection, slow) is None
        assert time.perf_counter() - started < 1.0, "interrupted, not run to the end"
        assert await queries.count_within_budget(connection, select(func.count()).select_from(jobs)) == 0
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1


async def test_logs_filter_page_and_include_lines_not_written_yet(history):
    events = run(name="chatty", log_lines=12, status=None)
    await persist(history, events)
    job_id = events[0].job_id
    history.store.apply_all(
        [
            JobEvent(kind="log", job_id=job_id, seq=100 + n, time_ns=T0 + S, level="error", message=f"late failure {n}")
            for n in range(3)
        ]
    )
    first, total, more = await history.logs(job_id, queries.LogFilter(), limit=10)
    assert (len(first), total, more) == (10, 15, True)
    rest, _, more = await history.logs(job_id, queries.LogFilter(after_seq=first[-1]["seq"]), limit=10)
    assert [row["message"] for row in rest][-3:] == ["late failure 0", "late failure 1", "late failure 2"]
    assert not more
    errors, total, _ = await history.logs(job_id, queries.LogFilter(min_level=3), limit=10)
    assert total == 3 and {row["level"] for row in errors} == {3}
    found, _, _ = await history.logs(job_id, queries.LogFilter(text="LINE 1"), limit=10)
    assert [row["message"] for row in found] == ["line 1 of chatty", "line 10 of chatty", "line 11 of chatty"]
    streamed = [row["seq"] async for row in history.iter_logs(job_id, queries.LogFilter())]
    assert streamed == sorted(streamed) and len(streamed) == 15


async def test_analytics_by_type_with_percentiles_trend_and_errors(history):
    day = (T0 // DAY + 1) * DAY
    runs = [
        run(job_type="csv", name="csv-a", start_ns=day + n * 3600 * S, duration_s=d, processed=100)
        for n, d in enumerate([10, 20, 30, 40, 100])
    ]
    runs += [
        run(
            job_type="csv",
            name="csv-b",
            start_ns=day + DAY + 60 * S,
            status="failed",
            processed=10,
            failed=4,
            error_type="ValueError",
            error_message="bad row",
        )
    ]
    runs += [
        run(
            job_type="api",
            name="api-a",
            start_ns=day + n * S,
            status="failed",
            error_type="TimeoutError",
            error_message="upstream timed out",
        )
        for n in range(3)
    ]
    await persist(history, *runs)
    result = await history.analytics(since_ns=day, until_ns=day + 2 * DAY, group_by="job_type", bucket="day")
    csv, api = result.groups
    assert (csv.key, csv.runs, csv.completed, csv.failed) == ("csv", 6, 5, 1)
    assert csv.success_rate == pytest.approx(5 / 6)
    assert (csv.duration_s.p50, csv.duration_s.p95, csv.duration_s.max) == (30.0, 100.0, 100.0)
    assert csv.records_per_s == pytest.approx(500 / 200)
    assert [(point.runs, point.failed_runs) for point in csv.trend] == [(5, 0), (1, 1)]
    assert csv.trend[1].record_error_rate == pytest.approx(0.4)
    assert (api.key, api.runs, api.success_rate) == ("api", 3, 0.0)
    assert [(error.error_type, error.count, error.job_names) for error in result.errors] == [
        ("TimeoutError", 3, ["api-a"]),
        ("ValueError", 1, ["csv-b"]),
    ]
    assert csv.trend[0].bucket_start.timestamp() == day / S
    by_name = await history.analytics(since_ns=day, until_ns=day + 2 * DAY, group_by="name", bucket="hour")
    assert {group.key for group in by_name.groups} == {"csv-a", "csv-b", "api-a"}


async def test_each_trend_bucket_counts_its_ended_runs_as_the_success_rate_does(history):
    day = (T0 // DAY + 1) * DAY
    first = [run(start_ns=day + S, status="completed"), run(start_ns=day + 2 * S, status="failed")]
    first += [run(start_ns=day + 3 * S, status="cancelled"), run(start_ns=day + 4 * S, status=None)]
    second = [run(start_ns=day + DAY + S, status=None)]
    await persist(history, *first, *second)
    result = await history.analytics(since_ns=day, until_ns=day + 2 * DAY, group_by="job_type", bucket="day")
    [group] = result.groups
    counts = [(p.runs, p.failed_runs, p.completed_runs, p.ended_runs, p.failure_rate) for p in group.trend]
    assert counts == [(4, 1, 1, 3, 0.25), (1, 0, 0, 0, 0.0)], "a running job is a run, not an ended one"
    ended = sum(point.ended_runs for point in group.trend)
    assert group.success_rate == pytest.approx(sum(point.completed_runs for point in group.trend) / ended)


async def test_step_analytics_finds_the_bottleneck(history):
    runs = [
        run(name="nightly", start_ns=T0 + n * S, steps=(("extract", 1.0 + n), ("transform", 2.0), ("load", 10.0 + n)))
        for n in range(4)
    ]
    await persist(history, *runs)
    result = await history.step_analytics(job_name="nightly", since_ns=T0, until_ns=T0 + DAY)
    assert [step.name for step in result.steps] == ["extract", "transform", "load"]
    load = result.steps[2]
    assert load.bottleneck and not result.steps[0].bottleneck
    assert (load.runs, load.duration_s.max, load.duration_s.mean) == (4, 13.0, 11.5)
    assert load.share_of_total == pytest.approx(11.5 / (2.5 + 2.0 + 11.5))


async def test_restore_rebuilds_memory_as_stored(history, database_url):
    running = run(name="still-going", status=None, received_ns=T0)
    done = run(name="done")
    await persist(history, running, done)
    restarted = History(create_engine(database_url), JobStore(), flush_interval_s=3600, max_pending_lines=1000)
    assert await restarted.restore() == 2
    state = restarted.store.get(running[0].job_id)
    # When it was last heard from stays true: the lost-job detector tells a restored job from a live one by it.
    assert (state.status, state.last_seen_ns) == ("running", T0)
    assert restarted.store.get(done[0].job_id).status == "completed"
    await restarted.engine.dispose()


# ---- what storage cannot hold, and stopping ----------------------------------------------------

TOO_BIG = 2**63  # one past the largest signed 64-bit integer


async def set_aside(history: History) -> list[dict[str, Any]]:
    async with history.engine.connect() as connection:
        found = (await connection.execute(select(dead_letters).order_by(dead_letters.c.id))).mappings().all()
    return [{**row, "payload": msgspec.json.decode(row["payload"])} for row in found]


async def test_rows_storage_cannot_hold_are_set_aside_and_the_rest_is_written(history):
    good = run(name="good", log_lines=3)
    overflowing = run(name="overflowing", processed=TOO_BIG, status=None)
    one_bad_line = run(name="one-bad-line", log_lines=2)
    bad_line = JobEvent(
        kind="log",
        job_id=one_bad_line[0].job_id,
        seq=TOO_BIG,
        time_ns=T0,
        level="error",
        message="a seq storage cannot hold",
    )
    await persist(history, good, overflowing, [*one_bad_line, bad_line])

    stored = {state.name: state for state in (await history.list_jobs(queries.JobFilter(), limit=50)).states}
    assert sorted(stored) == ["good", "one-bad-line"]
    assert stored["good"].status == "completed" and stored["good"].processed == 100
    lines = select(func.count()).select_from(job_logs)
    assert await scalar(history, lines) == 5, "every line but the refused one"
    letters = await set_aside(history)
    assert [(row["kind"], row["job_id"]) for row in letters] == [
        ("job", overflowing[0].job_id),
        ("log", one_bad_line[0].job_id),
    ]
    job_letter, line_letter = letters
    assert job_letter["payload"]["processed"] == str(TOO_BIG), "kept as text: JSON readers lose such integers"
    assert job_letter["payload"]["name"] == "overflowing"
    assert line_letter["payload"]["seq"] == str(TOO_BIG)
    assert line_letter["payload"]["message"] == "a seq storage cannot hold"
    assert all("range" in row["error"] or "too large" in row["error"] for row in letters), letters
    stats = history.writer.stats
    assert (stats.dead_letters, stats.failures, stats.last_error) == ({"job": 1, "log": 1}, 0, None)
    assert history.writer.pending == 0
    assert await history.check() == "ok", "a refused row is not an outage"

    # The next flush is healthy; once the running job's figures fit again its newest state is stored.
    later = run(name="later", log_lines=1)
    fixed = JobEvent(
        kind="progress", job_id=overflowing[0].job_id, seq=overflowing[-1].seq + 1, time_ns=T0, processed=7
    )
    await persist(history, later, [fixed])
    assert await queries.get_state(history.engine, later[0].job_id) == history.store.get(later[0].job_id)
    assert (await queries.get_state(history.engine, overflowing[0].job_id)).processed == 7
    assert await scalar(history, lines) == 6
    assert stats.dead_letters == {"job": 1, "log": 1} and stats.flushes == 2


async def test_a_jobs_newest_refused_state_replaces_its_older_dead_letter(history):
    events = run(name="stays-too-big", processed=TOO_BIG, status=None)
    await persist(history, events)
    more = JobEvent(kind="progress", job_id=events[0].job_id, seq=events[-1].seq + 1, time_ns=T0, processed=TOO_BIG + 1)
    await persist(history, [more])
    letters = await set_aside(history)
    assert [row["payload"]["processed"] for row in letters] == [str(TOO_BIG + 1)]
    assert history.writer.stats.dead_letters["job"] == 2, "the counter counts every refusal"


class GatedEngine:
    """An engine whose transactions, once begun, wait for the test to open ``gate``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as connection:
            self.entered.set()
            await self.gate.wait()
            yield connection


async def test_a_graceful_stop_during_a_flush_writes_everything(history):
    gated = GatedEngine(history.engine)
    writer = HistoryWriter(gated, JobStore(), interval_s=0.001)
    events = run(name="written-at-stop", log_lines=4)
    writer.store.apply_all(events)
    await writer.start()
    await asyncio.wait_for(gated.entered.wait(), 10)  # the loop is writing the batch, held at the gate
    stopping = asyncio.create_task(writer.stop())
    gated.gate.set()
    await asyncio.wait_for(stopping, 10)
    assert await queries.get_state(history.engine, events[0].job_id) == writer.store.get(events[0].job_id)
    assert await scalar(history, select(func.count()).select_from(job_logs)) == 4
    assert writer.pending == 0


async def test_a_cancelled_flush_keeps_its_batch_for_the_next(history):
    gated = GatedEngine(history.engine)
    writer = HistoryWriter(gated, JobStore(), interval_s=3600)
    events = run(name="cancelled-mid-write", log_lines=2)
    writer.store.apply_all(events)
    pending = writer.pending
    flushing = asyncio.create_task(writer.flush())
    await asyncio.wait_for(gated.entered.wait(), 10)
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert writer.pending == pending
    gated.gate.set()
    await writer.flush()
    assert await queries.get_state(history.engine, events[0].job_id) == writer.store.get(events[0].job_id)
    assert await scalar(history, select(func.count()).select_from(job_logs)) == 2


async def test_a_listing_during_a_flush_waits_for_it_and_lists_what_it_writes(history):
    # The flush under way holds the job's change; nothing is pending, yet nothing is stored either.
    gated = GatedEngine(history.engine)
    history.writer = HistoryWriter(gated, history.store, interval_s=3600)
    events = run(name="listed-mid-flush")
    history.store.apply_all(events)
    flushing = asyncio.create_task(history.writer.flush())
    await asyncio.wait_for(gated.entered.wait(), 10)
    listing = asyncio.create_task(history.list_jobs(queries.JobFilter(name="listed-mid-flush")))
    await asyncio.wait({listing}, timeout=1.0)  # before the fix the listing answered here, empty
    gated.gate.set()
    page = await asyncio.wait_for(listing, 10)
    await flushing
    assert [state.id for state in page.states] == [events[0].job_id]


# ---- retention ----------------------------------------------------------------------------------


def sweeper(history: History, now_ns: int, **policy) -> RetentionSweeper:
    """A sweeper with the parts the history feature declares, a small batch and a fixed clock."""
    return RetentionSweeper(
        history.engine, RetentionPolicy(batch_size=2, **policy), HistoryFeature.retention_parts, clock_ns=lambda: now_ns
    )


async def test_old_jobs_expire_in_batches_and_a_dry_run_changes_nothing(history):
    old = [run(name=f"old-{n}", start_ns=T0, log_lines=3) for n in range(5)]
    lost = run(name="lost-long-ago", status=None)
    recent = run(name="recent", start_ns=T0 + 29 * DAY)
    await persist(history, *old, lost, recent)
    await persist(history, [JobEvent(kind="lost", job_id=lost[0].job_id, seq=lost[-1].seq, time_ns=T0)])
    retention = sweeper(history, now_ns=T0 + 31 * DAY)

    preview = (await retention.sweep(dry_run=True)).part(JobCounts)
    assert (preview.jobs_expired, preview.log_lines_expired) == (6, 15)
    assert await scalar(history, select(func.count()).select_from(jobs)) == 7

    progress = []
    report = (await retention.sweep(progress=lambda phase, done: progress.append((phase, done)))).part(JobCounts)
    assert (report.jobs_expired, report.log_lines_expired) == (6, 15)
    assert progress[:3] == [("expired jobs", 2), ("expired jobs", 4), ("expired jobs", 6)]
    remaining = (await history.list_jobs(queries.JobFilter(), limit=50)).states
    assert [state.name for state in remaining] == ["recent"]


async def test_old_dead_letters_expire_with_the_jobs_of_their_time(history):
    def letter(job_id, at_ns):
        return {"at_ns": at_ns, "job_id": job_id, "kind": "log", "error": "OverflowError: too big", "payload": "{}"}

    async with history.engine.begin() as connection:
        await connection.execute(dead_letters.insert(), [letter("old", T0), letter("recent", T0 + 29 * DAY)])
    retention = sweeper(history, now_ns=T0 + 31 * DAY)
    assert (await retention.sweep(dry_run=True)).part(DeadLetterCounts).dead_letters_expired == 1
    assert (await retention.sweep()).part(DeadLetterCounts).dead_letters_expired == 1
    assert [row["job_id"] for row in await set_aside(history)] == ["recent"]


async def test_each_job_keeps_its_newest_lines_with_a_marker(history):
    events = run(name="noisy", log_lines=25)
    await persist(history, events)
    job_id = events[0].job_id
    retention = sweeper(history, now_ns=T0, log_lines_per_job=10)
    assert (await retention.sweep(dry_run=True)).part(JobCounts).log_lines_trimmed == 15
    report = (await retention.sweep()).part(JobCounts)
    assert (report.jobs_trimmed, report.log_lines_trimmed) == (1, 15)
    lines, total, _ = await history.logs(job_id, queries.LogFilter(), limit=100)
    assert total == 11
    assert lines[0]["seq"] == MARKER_SEQ and "15 older log line(s)" in lines[0]["message"]
    assert [row["message"] for row in lines[1:]] == [f"line {n} of noisy" for n in range(15, 25)]
    assert (await retention.sweep()).part(JobCounts).log_lines_trimmed == 0, "a trimmed job is not trimmed again"


async def test_log_storage_cap_rotates_the_oldest_jobs_first(history):
    runs = [run(name=f"job-{n}", start_ns=T0 + n * S, log_lines=200) for n in range(4)]
    await persist(history, *runs)
    per_job = await scalar(history, select(jobs.c.log_bytes).where(jobs.c.id == runs[0][0].job_id))
    retention = sweeper(history, now_ns=T0, log_storage_mb=(per_job * 2.5) / (1024 * 1024))
    report = (await retention.sweep()).part(JobCounts)
    assert (report.jobs_rotated, report.log_lines_rotated) == (2, 400)
    kept = {
        name: count
        for name, count in [
            (
                f"job-{n}",
                await scalar(
                    history,
                    select(func.count())
                    .select_from(job_logs)
                    .where(job_logs.c.job_id == events[0].job_id, job_logs.c.seq != MARKER_SEQ),
                ),
            )
            for n, events in enumerate(runs)
        ]
    }
    assert kept == {"job-0": 0, "job-1": 0, "job-2": 200, "job-3": 200}
    marker, _, _ = await history.logs(runs[0][0].job_id, queries.LogFilter(), limit=5)
    assert "log storage is capped" in marker[0]["message"]


async def test_retention_settings_are_validated():
    from jobpulse.sidecar.settings import SettingsError, load_settings

    for name, value in [
        ("RETENTION_DAYS", "0"),
        ("RETENTION_LOG_LINES_PER_JOB", "-5"),
        ("RETENTION_LOG_STORAGE_MB", "x"),
    ]:
        with pytest.raises(SettingsError, match=name.lower()):
            load_settings(environ={f"JOBPULSE_{name}": value})
    assert (
        msgspec.structs.asdict(load_settings(environ={"JOBPULSE_RETENTION_DAYS": "7"}).retention_policy())["job_days"]
        == 7.0
    )
