"""The live feed client: resumes or resyncs after a lost connection (never a silent gap), backs off
within bounds and with jitter, ends on what waiting will not cure. Real sidecars, a real proxy that
drops connections, real refused ports."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import msgspec
import pytest
from websockets.sync.client import connect

from jobpulse.client import (
    AsyncClient,
    Backoff,
    Client,
    ConnectionFailed,
    Feed,
    Filters,
    JobProgress,
    JobStatusUpdate,
    Snapshot,
    Unauthorized,
    ValidationFailed,
)
from jobpulse.client.messages import decode_frame
from tests.client.answers import Answer, RefusingFeed
from tests.client.proxy import CuttableProxy
from tests.client.recording import EVERY_CHANGE, Recorder, assert_no_silent_gap, eventually, eventually_async
from tests.client.scripts import COUNTING_JOB, Job
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.ports import free_port
from tests.support.sidecar import SidecarProcess

QUICK = Backoff(initial_s=0.05, max_s=0.5)


def progress_of(job_id: str, messages: list[Any]) -> list[JobProgress]:
    return [message for message in messages if isinstance(message, JobProgress) and message.data.id == job_id]


async def test_the_feed_survives_a_sidecar_restart_with_a_resync_and_no_silent_gap(tmp_path) -> None:
    first = SidecarProcess(tmp_path).start()
    second = SidecarProcess(tmp_path, port=first.port)
    job = Job(COUNTING_JOB, first.url, JOBPULSE_RESOURCES_INTERVAL="0.5")
    recorder = Recorder(Feed(first.url, filters=EVERY_CHANGE, backoff=QUICK))
    try:
        await eventually(lambda: len(recorder.progress(job.id)) >= 5)
        await asyncio.to_thread(first.stop)
        await eventually(lambda: recorder.feed.state.phase == "backing_off")
        before_restart = len(recorder.messages)
        await asyncio.to_thread(second.start)
        await eventually(lambda: recorder.resyncs(), timeout=30)
        resync_at = recorder.messages.index(recorder.resyncs()[0])
        await eventually(lambda: len(progress_of(job.id, recorder.messages[resync_at:])) >= 5, timeout=30)
        await asyncio.to_thread(job.finish)
        await eventually(lambda: recorder.ended(job.id), timeout=30)
    finally:
        await recorder.stop()
        job.kill()
        first.kill()
        second.stop_soon()

    assert isinstance(recorder.messages[0], Snapshot)
    [resync] = recorder.resyncs()
    assert recorder.messages.index(resync) == before_restart, "the first thing after the restart is the resync"
    assert job.id in {summary.id for summary in resync.data.jobs}, "the fresh snapshot has the running job"
    assert_no_silent_gap(recorder.messages)
    phases = [state.phase for state in recorder.states]
    assert phases[:2] == ["connecting", "open"] and phases[-1] == "closed"
    backing_off = [state for state in recorder.states if state.phase == "backing_off"]
    assert backing_off and all(state.next_delay_s <= QUICK.max_s for state in backing_off)
    assert "open" in phases[phases.index("backing_off") :], "open again after the restart"


async def test_a_dropped_connection_resumes_from_its_cursor_with_what_it_missed(sidecar) -> None:
    proxy = CuttableProxy(sidecar.port)
    await proxy.open()
    job = Job(COUNTING_JOB, sidecar.url)
    recorder = Recorder(Feed(proxy.url, filters=EVERY_CHANGE, backoff=QUICK))
    try:
        async with AsyncClient(sidecar.url) as client:
            await eventually(lambda: len(recorder.progress(job.id)) >= 5)
            await proxy.cut()
            await eventually(lambda: recorder.feed.state.phase == "backing_off")
            cursor_at_cut = recorder.feed.cursor
            # The sidecar publishes on while the feed is cut off.
            missed = (await eventually_async(client.connections, lambda now: now.cursor >= cursor_at_cut + 20)).cursor
            await proxy.open()
            await eventually(lambda: recorder.feed.cursor > missed + 5)
        await asyncio.to_thread(job.finish)
        await eventually(lambda: recorder.ended(job.id))
    finally:
        await recorder.stop()
        job.kill()

    assert proxy.connections == 2
    assert recorder.resyncs() == [], "the sidecar still had what was missed: replayed, not resynced"
    assert_no_silent_gap(recorder.messages)
    cursors = [message.cursor for message in recorder.messages]
    assert set(range(cursor_at_cut + 1, missed + 1)) <= set(cursors), "what came while cut off arrived after all"


def test_backoff_doubles_to_its_ceiling_and_jitter_only_shortens_a_wait() -> None:
    backoff = Backoff(initial_s=0.5, factor=2, max_s=4, jitter=0.5)
    assert [backoff.delay(n, lambda: 0.0) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]
    assert [backoff.delay(n, lambda: 0.5) for n in range(1, 5)] == [0.375, 0.75, 1.5, 3]
    assert backoff.delay(3, lambda: 0.999999) == pytest.approx(1.0, abs=1e-5)
    assert backoff.delay(10**9, lambda: 0.0) == 4, "no overflow after a very long outage"
    assert Backoff(jitter=0).delay(2, lambda: 0.7) == 1.0


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"initial_s": 0}, "initial_s"),
        ({"initial_s": 5, "max_s": 1}, "initial_s"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": 1.5}, "jitter"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_backoff_settings_are_checked(settings, field) -> None:
    with pytest.raises(ValueError, match=field):
        Backoff(**settings)


async def test_a_refused_feed_waits_as_its_backoff_says_then_gives_up() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    draws = itertools.cycle([0.0, 0.5, 0.999999])
    states: list[Any] = []
    backoff = Backoff(initial_s=1, factor=2, max_s=8, jitter=0.5, max_attempts=6)
    feed = Feed(
        f"http://127.0.0.1:{free_port()}",
        backoff=backoff,
        random=lambda: next(draws),
        sleep=sleep,
        on_state=states.append,
    )
    with pytest.raises(ConnectionFailed, match="6 attempts failed"):
        await anext(feed)

    assert waits == pytest.approx([1.0, 1.5, 2.0, 8.0, 6.0], abs=1e-5)
    assert [state.phase for state in states] == ["connecting"] + ["backing_off", "connecting"] * 5 + ["closed"]
    assert [state.attempt for state in states if state.phase == "backing_off"] == [1, 2, 3, 4, 5]
    assert [state.next_delay_s for state in states if state.phase == "backing_off"] == waits
    assert "Connect" in feed.state.last_error or "refused" in feed.state.last_error.lower()


async def test_a_real_refused_loop_takes_as_long_as_its_jittered_waits() -> None:
    backoff = Backoff(initial_s=0.05, factor=2, max_s=0.2, jitter=0.5, max_attempts=7)
    states: list[Any] = []
    feed = Feed(f"http://127.0.0.1:{free_port()}", backoff=backoff, on_state=states.append)
    started = time.monotonic()
    with pytest.raises(ConnectionFailed):
        await anext(feed)
    elapsed = time.monotonic() - started

    waits = [state.next_delay_s for state in states if state.phase == "backing_off"]
    ceilings = [backoff.ceiling(attempt) for attempt in range(1, 7)]
    assert all(ceiling / 2 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True))
    assert len(set(waits)) > 1 and waits != ceilings, "jittered"
    assert sum(waits) <= elapsed < sum(ceilings) + 2.0


async def test_closing_ends_a_wait_between_attempts_at_once() -> None:
    feed = Feed(f"http://127.0.0.1:{free_port()}", backoff=Backoff(initial_s=30, max_s=30))
    waiting = asyncio.create_task(anext(feed))
    await eventually(lambda: feed.state.phase == "backing_off")
    started = time.monotonic()
    await feed.close()
    with pytest.raises(StopAsyncIteration):
        await waiting
    assert time.monotonic() - started < 1.0
    assert feed.state.phase == "closed"


async def test_invalid_filters_end_the_feed_with_the_sidecars_reason(shared_sidecar) -> None:
    feed = Feed(shared_sidecar.url, filters=Filters(statuses=["sleeping"]))
    with pytest.raises(ValidationFailed, match="statuses: unknown value 'sleeping'"):
        await anext(feed)
    assert feed.state.phase == "closed"


async def test_the_token_goes_on_the_handshake_and_a_refused_one_is_not_retried() -> None:
    refusing = RefusingFeed(Answer(401, b'{"status_code": 401, "detail": "token not accepted"}'))
    async with refusing.running():
        feed = Feed(refusing.url, token="s3cret", filters=Filters(job_types=["csv_import"]))
        with pytest.raises(Unauthorized, match="token not accepted"):
            await anext(feed)
    [seen] = refusing.seen
    assert seen.path == "/ws?job_type=csv_import"
    assert seen.headers["Authorization"] == "Bearer s3cret"


async def test_an_unavailable_feed_is_retried_no_sooner_than_its_retry_after() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    refusing = RefusingFeed(Answer(429, b'{"status_code": 429, "detail": "slow down"}', {"Retry-After": "7"}))
    async with refusing.running():
        feed = Feed(refusing.url, backoff=Backoff(initial_s=0.1, max_attempts=3), sleep=sleep)
        with pytest.raises(ConnectionFailed, match="429: slow down"):
            await anext(feed)
    assert len(refusing.seen) == 3
    assert waits == [7.0, 7.0]


def test_the_blocking_feed_yields_the_snapshot_then_updates(shared_sidecar) -> None:
    emitter = JobEmitter("blocking-feed-job")
    with Client(shared_sidecar.url) as client, client.feed(Filters(job_ids=[emitter.job_id])) as feed:
        snapshot = next(feed)
        assert isinstance(snapshot, Snapshot) and snapshot.data.jobs == []
        assert feed.state.phase == "open"
        post_logs(shared_sidecar.url, [emitter.start(name="blocking", job_type="client_test")])
        update = next(feed)
        assert isinstance(update, JobStatusUpdate) and update.data.id == emitter.job_id
        assert update.data.status == "running" and feed.cursor == update.cursor
    assert feed.state.phase == "closed"


def test_a_blocking_feed_connected_first_sees_what_happens_next(shared_sidecar) -> None:
    emitter = JobEmitter(f"connected-first-{time.monotonic_ns()}")
    with Client(shared_sidecar.url) as client, client.feed(Filters(job_ids=[emitter.job_id])) as feed:
        feed.connect(timeout=10)
        assert feed.state.phase == "open"
        post_logs(shared_sidecar.url, [emitter.start(name="connected-first", job_type="client_test")])
        snapshot, update = feed.next(timeout=10), feed.next(timeout=10)
    assert isinstance(snapshot, Snapshot) and snapshot.data.jobs == [], "listening before the job started"
    assert isinstance(update, JobStatusUpdate) and (update.data.id, update.data.status) == (emitter.job_id, "running")


def test_a_blocking_feed_waits_no_longer_than_asked(shared_sidecar) -> None:
    emitter = JobEmitter(f"timed-wait-{time.monotonic_ns()}")
    with Client(shared_sidecar.url) as client, client.feed(Filters(job_ids=[emitter.job_id])) as feed:
        assert isinstance(feed.next(timeout=10), Snapshot)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            feed.next(timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 3
        with pytest.raises(RuntimeError, match="before iterating"):
            feed.connect()
        post_logs(shared_sidecar.url, [emitter.start(name="timed-wait", job_type="client_test")])
        update = feed.next(timeout=10)
        assert isinstance(update, JobStatusUpdate) and update.data.id == emitter.job_id
        assert feed.state.phase == "open"
    assert feed.state.phase == "closed"


def test_every_message_the_sidecar_sends_reads_with_all_its_fields(shared_sidecar) -> None:
    emitter = JobEmitter("every-message-job")
    kinds = {"snapshot", "job_status_update", "job_progress", "job_log", "alert"}
    raw: list[dict[str, Any]] = []
    with connect(f"{shared_sidecar.ws_url}?job_id={emitter.job_id}", open_timeout=10) as socket:
        post_logs(shared_sidecar.url, [emitter.start(name="every", job_type="client_test", total=4)])
        post_logs(shared_sidecar.url, [emitter.progress(2, total=4), emitter.log("careful", level="warning")])
        post_logs(shared_sidecar.url, [emitter.end("failed", processed=3, **{"exception.type": "ValueError"})])
        deadline = time.monotonic() + 15
        while not kinds <= {message["type"] for message in raw}:
            raw += json.loads(socket.recv(timeout=max(deadline - time.monotonic(), 0.001)))
    for written in raw:
        [message] = decode_frame(json.dumps([written]))
        assert message.cursor == written["cursor"] and message.__struct_config__.tag == written["type"]
        if written["type"] != "snapshot":
            fields = msgspec.structs.fields(type(message.data))
            required = {field.encode_name for field in fields if field.required}
            assert required <= set(written["data"]) <= {field.encode_name for field in fields}, written["type"]
