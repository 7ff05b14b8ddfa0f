"""The live feed over a real WebSocket: snapshot, updates, filters, replay, resync, slow clients."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed

from jobpulse.client import Filters, JobLog, JobProgress, JobStatusUpdate, Resync, Snapshot
from jobpulse.sidecar.feed.hub import SNAPSHOT_PART_JOBS
from tests.feed.wire import StalledClient, WireFeed, job_id_of
from tests.support.feed_watch import FeedWatch
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess, started_ahead


def new_job() -> JobEmitter:
    return JobEmitter(uuid.uuid4().hex)


def is_log(text: str):
    return lambda message: message.data.message == text


def is_wire_log(text: str):
    return lambda message: message["type"] == "job_log" and message["data"]["message"] == text


def counted(sidecar: SidecarProcess, name: str, label: str) -> dict[str, float]:
    """The samples of counter ``name`` on the sidecar's /metrics, by the value of ``label``."""
    families = text_string_to_metric_families(sidecar.get("/metrics").text)
    return {
        sample.labels[label]: sample.value for family in families for sample in family.samples if sample.name == name
    }


def test_snapshot_on_connect_holds_active_jobs_only(shared_sidecar):
    running, finished = new_job(), new_job()
    post_logs(
        shared_sidecar.url,
        [running.start(name="still-running"), finished.start(name="done"), finished.end(processed=0)],
    )
    with FeedWatch(shared_sidecar.url) as feed:
        snapshot = feed.wait_for(Snapshot)
        ids = {job.id for job in snapshot.data.jobs}
        assert running.job_id in ids and finished.job_id not in ids
        assert isinstance(snapshot.cursor, int)


def test_a_job_lifecycle_arrives_in_order_with_summary(shared_sidecar):
    job = new_job()
    with FeedWatch(shared_sidecar.url) as feed:
        feed.wait_for(Snapshot)
        post_logs(shared_sidecar.url, [job.start(name="lifecycle", job_type="csv", total=30)])
        for processed in (10, 20):
            post_logs(shared_sidecar.url, [job.progress(processed, failed=1, total=30, step="parse")])
            feed.wait_for(JobProgress, lambda m, p=processed: m.data.processed == p)
        post_logs(
            shared_sidecar.url,
            [
                job.log("row 7 rejected", level="warning"),
                job.end("failed", processed=25, **{"exception.type": "ValueError", "exception.message": "bad header"}),
            ],
        )
        final = feed.wait_for(JobStatusUpdate, lambda m: m.data.status == "failed")
        mine = feed.of_job(job.job_id, JobStatusUpdate, JobProgress, JobLog)
        assert [type(m) for m in mine] == [JobStatusUpdate, JobProgress, JobProgress, JobLog, JobStatusUpdate]
        assert mine[0].data.status == "running"
        assert mine[1].data.step.name == "parse" and mine[1].data.progress_percent == pytest.approx(33.33)
        assert mine[3].data.level == "warning" and mine[3].data.job_id == job.job_id
        summary = final.data
        assert (summary.previous_status, summary.processed, summary.failed) == ("running", 25, 1)
        assert summary.error.type == "ValueError" and summary.execution_time_s is not None
        cursors = [m.cursor for m in feed.messages]
        assert cursors == sorted(cursors) and len(set(cursors[1:])) == len(cursors) - 1


def test_filters_at_connect_and_by_subscribe(shared_sidecar):
    csv_job, api_job = new_job(), new_job()
    kind = uuid.uuid4().hex[:8]
    with (
        WireFeed(shared_sidecar.ws_url, job_type=f"csv-{kind}", min_log_level="warning") as feed,
        FeedWatch(shared_sidecar.url) as everything,
    ):
        feed.wait_for(lambda m: m["type"] == "snapshot")
        post_logs(
            shared_sidecar.url,
            [
                csv_job.start(name="a", job_type=f"csv-{kind}"),
                api_job.start(name="b", job_type=f"api-{kind}"),
                csv_job.log("quiet", level="info"),
                csv_job.log("loud", level="error"),
                api_job.log("other", level="error"),
            ],
        )
        feed.wait_for(is_wire_log("loud"))
        everything.wait_for(JobLog, is_log("other"))
        assert not [m for m in feed.messages if job_id_of(m) == api_job.job_id]
        assert not [m for m in feed.messages if m["type"] == "job_log" and m["data"]["message"] == "quiet"]

        # Dimensions combine with AND, values within one with OR: widen the types, narrow to one job.
        feed.send({"type": "subscribe", "job_types": [f"api-{kind}"], "job_ids": [api_job.job_id]})
        feed.send({"type": "unsubscribe", "message_types": ["job_log"]})
        post_logs(shared_sidecar.url, [api_job.log("hidden now", level="error"), api_job.progress(5)])
        feed.wait_for(lambda m: m["type"] == "job_progress" and job_id_of(m) == api_job.job_id)
        everything.wait_for(JobLog, is_log("hidden now"))
        assert not [m for m in feed.messages if m["type"] == "job_log" and m["data"]["message"] == "hidden now"]

        feed.send({"type": "unsubscribe"})
        feed.send({"type": "ping", "data": "after-unsubscribe"})
        post_logs(shared_sidecar.url, [api_job.progress(6), csv_job.progress(6)])
        feed.wait_for(lambda m: m["type"] == "pong" and m["data"] == "after-unsubscribe")
        everything.wait_for(JobProgress, lambda m: m.data.processed == 6 and m.data.id == csv_job.job_id)
        feed.drain()
        assert not [m for m in feed.messages if m["type"] == "job_progress" and m["data"]["processed"] == 6]


def test_invalid_client_messages_get_an_error_and_the_connection_stays(shared_sidecar):
    with WireFeed(shared_sidecar.ws_url) as feed:
        for bad, words in [
            ("not json", "invalid JSON"),
            ({"type": "subscribe", "statuses": ["exploded"]}, "statuses"),
            ({"type": "subscribe", "min_log_level": "loud"}, "min_log_level"),
            ({"type": "teleport"}, "teleport"),
            ({"type": "resume"}, "cursor"),
            ({"type": "subscribe", "job_ids": "abc"}, "job_ids"),
        ]:
            feed.send(bad)
            error = feed.wait_for(lambda m, w=words: m["type"] == "error" and w in m["data"]["detail"])
            feed.messages.remove(error)
        feed.send({"type": "ping", "data": {"n": 1}})
        assert feed.wait_for(lambda m: m["type"] == "pong")["data"] == {"n": 1}


def test_bad_connect_parameters_are_refused_with_a_reason(shared_sidecar):
    before = counted(shared_sidecar, "jobpulse_sidecar_feed_handshake_failures_total", "reason")
    with WireFeed(shared_sidecar.ws_url, status="sideways") as feed:
        error = feed.wait_for(lambda m: m["type"] == "error")
        assert "sideways" in error["data"]["detail"]
        with pytest.raises(ConnectionClosed) as closed:
            feed.receive_frame(5)
        assert closed.value.rcvd.code == 1008
    after = counted(shared_sidecar, "jobpulse_sidecar_feed_handshake_failures_total", "reason")
    assert after["invalid_parameters"] == before["invalid_parameters"] + 1
    assert after["client_gone"] == before["client_gone"]


def test_a_bad_progress_rate_is_refused_naming_field_and_value(shared_sidecar):
    with WireFeed(shared_sidecar.ws_url) as feed:
        for bad in (-1, 1e6, "fast"):
            feed.send({"type": "subscribe", "progress_hz": bad})
            error = feed.wait_for(lambda m: m["type"] == "error")
            assert "progress_hz" in error["data"]["detail"] and str(bad) in error["data"]["detail"]
            feed.messages.remove(error)
    with WireFeed(shared_sidecar.ws_url, progress_hz="nan") as feed:
        error = feed.wait_for(lambda m: m["type"] == "error")
        assert "progress_hz" in error["data"]["detail"] and "nan" in error["data"]["detail"]
        with pytest.raises(ConnectionClosed) as closed:
            feed.receive_frame(5)
        assert closed.value.rcvd.code == 1008


def progress_values(feed: WireFeed, job_id: str) -> list[int]:
    return [m["data"]["processed"] for m in feed.messages if m["type"] == "job_progress" and job_id_of(m) == job_id]


def test_a_progress_rate_caps_messages_per_job_and_the_newest_figures_still_arrive(shared_sidecar):
    job = new_job()
    post_logs(shared_sidecar.url, [job.start(name="rated", total=100)])
    with (
        WireFeed(shared_sidecar.ws_url, job_id=job.job_id) as watcher,
        WireFeed(shared_sidecar.ws_url) as rated,
    ):
        rated.send({"type": "subscribe", "progress_hz": 0.5})
        rated.wait_for(lambda m: m["type"] == "snapshot")
        rated.wait_for(lambda m: m["type"] == "snapshot" and m is not rated.messages[0])
        for processed in range(1, 21):
            post_logs(shared_sidecar.url, [job.progress(processed, total=100)])
            watcher.wait_for(lambda m, p=processed: m["type"] == "job_progress" and m["data"]["processed"] == p)
        # The last change came while the job was not due: it arrives as a catch-up, within two periods.
        rated.wait_for(lambda m: m["type"] == "job_progress" and m["data"]["processed"] == 20, timeout=10)
        assert progress_values(watcher, job.job_id) == list(range(1, 21)), "a watcher of named jobs gets every change"
        seen = progress_values(rated, job.job_id)
        assert len(seen) < 10 and seen == sorted(seen) and seen[-1] == 20
        cursors = [m["cursor"] for m in rated.messages]
        assert cursors == sorted(cursors)


def test_resume_after_a_dropped_connection_loses_nothing(shared_sidecar):
    job = new_job()
    with WireFeed(shared_sidecar.ws_url) as witness:
        witness.wait_for(lambda m: m["type"] == "snapshot")
        feed = WireFeed(shared_sidecar.ws_url)
        post_logs(shared_sidecar.url, [job.start(name="resumable"), job.log("before drop")])
        cursor = feed.wait_for(is_wire_log("before drop"))["cursor"]
        feed.close()
        post_logs(shared_sidecar.url, [job.log(f"missed {n}") for n in range(5)] + [job.progress(3)])
        post_logs(shared_sidecar.url, [job.end(processed=3)])
        witness.wait_for(
            lambda m: (
                m["type"] == "job_status_update" and m["data"]["status"] == "completed" and job_id_of(m) == job.job_id
            )
        )
        with WireFeed(shared_sidecar.ws_url, cursor=cursor) as back:
            back.wait_for(
                lambda m: (
                    m["type"] == "job_status_update"
                    and m["data"]["status"] == "completed"
                    and job_id_of(m) == job.job_id
                )
            )
            assert "snapshot" not in back.types()
            expected = [m for m in witness.messages if m["cursor"] > cursor and m["type"] != "snapshot"]
            got = [m for m in back.messages if m["cursor"] <= expected[-1]["cursor"]]
            assert [m["cursor"] for m in got] == [m["cursor"] for m in expected]
            assert got == expected
            back.send({"type": "resume", "cursor": cursor})
            wait_for(lambda: back.drain(0.05) and len(back.messages) >= 2 * len(got))
            assert back.messages[len(got) :] == expected, "an explicit resume replays the same messages"


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SidecarProcess]]:
    """The sidecars of the tests below, one each, fresh, with the settings each test is about."""

    def made(name: str, **settings: Any) -> SidecarProcess:
        return SidecarProcess(tmp_path_factory.mktemp(name), **settings)

    # A feed ticking every 5 ms, whose blocked sends outlast the test: a stalled client is resynced, not dropped.
    slow_client = {"feed_send_timeout_s": 120, "feed_tick_ms": 5}
    with started_ahead(
        replay=made("replay", feed_replay_messages=5),
        plain=made("plain"),
        # A tick long enough to tell "at once" from "a tick later".
        quiet=made("quiet", feed_tick_ms=1000),
        # One frame a second is all this feed may send before it waits the whole tick between flushes.
        busy=made("busy", feed_tick_ms=500, feed_frames_per_s=1),
        backlog=made("backlog", feed_client_queue_frames=4, **slow_client),
        lag=made("lag", feed_client_queue_frames=100_000, feed_client_max_lag_s=0.2, **slow_client),
        stuck=made("stuck", feed_send_timeout_s=1, feed_client_queue_frames=10_000),
    ) as sidecars:
        yield sidecars


def test_a_cursor_older_than_the_replay_window_gets_a_resync(own):
    sidecar = own["replay"]
    try:
        job = new_job()
        with FeedWatch(sidecar.url) as feed:
            old_cursor = feed.wait_for(Snapshot).cursor
            post_logs(sidecar.url, [job.start(name="busy")] + [job.log(f"line {n}") for n in range(10)])
            feed.wait_for(JobLog, is_log("line 9"))
        for cursor in (old_cursor, old_cursor + 10**9, 1):
            with FeedWatch(sidecar.url, cursor=cursor) as late:
                resync = late.wait_for(Resync)
                assert [j.id for j in resync.data.jobs] == [job.job_id]
        resyncs = counted(sidecar, "jobpulse_sidecar_feed_resyncs_total", "cause")
        assert resyncs == {"backlog": 0, "lag": 0, "cursor": 3}
    finally:
        sidecar.stop_soon()


def test_a_long_snapshot_comes_in_parts_and_the_client_gets_it_whole(own):
    sidecar = own["plain"]
    try:
        jobs = [new_job() for _ in range(2 * SNAPSHOT_PART_JOBS + 7)]
        post_logs(sidecar.url, [job.start(name="many") for job in jobs])
        with WireFeed(sidecar.ws_url) as wire:
            parts, listed = wire.snapshot()
            assert [(p["data"]["part"], p["data"]["parts"]) for p in parts] == [(1, 3), (2, 3), (3, 3)]
            assert len(wire.messages) == 3, "each part is a frame of its own"
            assert len({p["cursor"] for p in parts}) == 1
            assert [len(p["data"]["jobs"]) for p in parts] == [SNAPSHOT_PART_JOBS, SNAPSHOT_PART_JOBS, 7]
            assert sorted(j["id"] for j in listed) == sorted(job.job_id for job in jobs)
            wire.send({"type": "resume", "cursor": 1})
            _, resynced = wire.snapshot("resync")
            assert len(resynced) == len(jobs)
        with FeedWatch(sidecar.url) as feed:
            snapshot = feed.wait_for(Snapshot)
            assert (snapshot.data.part, snapshot.data.parts) == (1, 1)
            assert sorted(j.id for j in snapshot.data.jobs) == sorted(job.job_id for job in jobs)
            assert feed.feed.cursor == snapshot.cursor
        with WireFeed(sidecar.ws_url, job_id=jobs[0].job_id) as one:
            parts, listed = one.snapshot()
            assert parts[0]["data"]["parts"] == 1 and [j["id"] for j in listed] == [jobs[0].job_id]
    finally:
        sidecar.stop_soon()


def test_changes_on_a_quiet_feed_go_out_at_once_not_a_tick_later(own):
    sidecar = own["quiet"]
    try:
        job = new_job()
        with FeedWatch(sidecar.url, Filters(progress_hz=0)) as feed:
            feed.wait_for(Snapshot)
            post_logs(sidecar.url, [job.start(name="quiet")])
            feed.wait_for(JobStatusUpdate, lambda m: m.data.id == job.job_id)
            # Each change follows the flush of the one before within the tick: with a fixed tick it would
            # wait for the rest of it (about 1 s), with one client the feed sends it at once.
            for processed in range(1, 4):
                posted = time.monotonic()
                post_logs(sidecar.url, [job.progress(processed)])
                feed.wait_for(JobProgress, lambda m, p=processed: m.data.processed == p)
                waited = time.monotonic() - posted
                assert waited < 0.5, f"change {processed} took {waited:.3f} s on a quiet feed with a 1 s tick"
            families = text_string_to_metric_families(sidecar.get("/metrics").text)
            [tick] = [s.value for f in families for s in f.samples if s.name == "jobpulse_sidecar_feed_tick_seconds"]
            assert tick < 0.5
    finally:
        sidecar.stop_soon()


def test_progress_is_coalesced_within_a_tick_when_the_feed_is_busy(own):
    sidecar = own["busy"]
    try:
        job = new_job()
        with FeedWatch(sidecar.url) as feed:
            feed.wait_for(Snapshot)
            post_logs(sidecar.url, [job.start(name="fast")])
            feed.wait_for(JobStatusUpdate, lambda m: m.data.id == job.job_id)
            for processed in range(1, 51):
                post_logs(sidecar.url, [job.progress(processed)])
            feed.wait_for(JobProgress, lambda m: m.data.processed == 50)
            progress = feed.of_job(job.job_id, JobProgress)
            assert len(progress) < 10, f"50 updates within ~1 s should coalesce, got {len(progress)} messages"
            assert [m.data.processed for m in progress] == sorted(m.data.processed for m in progress)
    finally:
        sidecar.stop_soon()


@pytest.mark.parametrize("cause", ["backlog", "lag"], ids=["queue-length", "queue-age"])
def test_a_slow_client_is_resynced_and_does_not_hold_back_the_others(own, cause):
    sidecar = own[cause]
    try:
        job = new_job()
        post_logs(sidecar.url, [job.start(name="flood")])
        with FeedWatch(sidecar.url) as fast:
            fast.wait_for(Snapshot)
            slow = StalledClient("127.0.0.1", sidecar.port)
            padding = "x" * 4000
            batches = 0

            def slow_client():
                nonlocal batches
                post_logs(sidecar.url, [job.log(f"{batches}-{n} {padding}") for n in range(100)])
                fast.wait_for(JobLog, is_log(f"{batches}-99 {padding}"), timeout=30)
                batches += 1
                clients = sidecar.get("/api/monitor/connections").json()["clients"]
                return next((c for c in clients if c["resyncs"] > 0), None)

            lagging = wait_for(slow_client, timeout=60, interval=0)
            assert lagging["frames_dropped"] > 0
            assert len([m for m in fast.messages if isinstance(m, JobLog)]) == batches * 100, (
                "the reading client got every line while the other one lagged"
            )
            received = bytearray()

            def resync_arrived():
                received.extend(slow.read_some())
                return b'"type":"resync"' in received

            wait_for(resync_arrived, timeout=60, interval=0)
            resyncs = counted(sidecar, "jobpulse_sidecar_feed_resyncs_total", "cause")
            assert resyncs[cause] >= 1 and resyncs["cursor"] == 0, resyncs
            slow.close()
    finally:
        sidecar.stop_soon()


def test_a_client_that_stops_reading_is_dropped(own):
    sidecar = own["stuck"]
    try:
        job = new_job()
        post_logs(sidecar.url, [job.start(name="flood")])
        stuck = StalledClient("127.0.0.1", sidecar.port)
        padding = "y" * 8000

        def dropped():
            post_logs(sidecar.url, [job.log(padding) for _ in range(100)])
            return sidecar.get("/api/monitor/connections").json()["clients_dropped"] == 1

        wait_for(dropped, timeout=60, interval=0.05)
        assert sidecar.get("/api/monitor/connections").json()["count"] == 0
        with FeedWatch(sidecar.url) as fresh:
            assert fresh.wait_for(Snapshot)
        stuck.close()
    finally:
        sidecar.stop_soon()
