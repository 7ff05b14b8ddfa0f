"""Two replicas on one stream and one database: one live view of every job, whichever replica a job
sends to and whichever one a client watches."""

from __future__ import annotations

import uuid

import pytest

from tests.alerting.receivers import HttpReceiver
from tests.feed.wire import WireFeed, job_id_of
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

pytestmark = pytest.mark.timeout(120)


def of_job(job_id: str, messages: list[dict]) -> list[dict]:
    return [message for message in messages if job_id_of(message) == job_id]


def lines(messages: list[dict]) -> list[str]:
    return [message["data"]["message"] for message in messages if message["type"] == "job_log"]


def statuses(messages: list[dict]) -> list[str]:
    return [message["data"]["status"] for message in messages if message["type"] == "job_status_update"]


def finished(feed: WireFeed, job_id: str, status: str = "completed") -> dict:
    return feed.wait_for(
        lambda m: m["type"] == "job_status_update" and job_id_of(m) == job_id and m["data"]["status"] == status
    )


def send_job(sidecar: SidecarProcess, job: JobEmitter, lines_count: int, *, end: str | None = "completed") -> None:
    """A job's start, then a line and a progress per request, then its end: one stream entry each."""
    post_logs(sidecar.url, [job.start(name="orders-import", total=lines_count)])
    for index in range(lines_count):
        post_logs(sidecar.url, [job.log(f"line {index}"), job.progress(index + 1, total=lines_count)])
    if end is not None:
        post_logs(sidecar.url, [job.end(end, processed=lines_count)])


def test_a_client_on_b_sees_every_update_of_a_job_sent_to_a_in_order(replicas):
    a, b = replicas
    job = JobEmitter(uuid.uuid4().hex)
    with WireFeed(b.ws_url) as feed:
        feed.wait_for(lambda m: m["type"] == "snapshot")
        send_job(a, job, 30)
        finished(feed, job.job_id)
        seen = of_job(job.job_id, feed.messages)
    assert lines(seen) == [f"line {index}" for index in range(30)]
    assert statuses(seen) == ["running", "completed"]
    processed = [m["data"]["processed"] for m in seen if m["type"] == "job_progress"]
    assert processed == sorted(processed) and processed, processed
    cursors = [m["cursor"] for m in seen]
    assert cursors == sorted(cursors) and max(cursors) < 2**53, "global cursors increase and fit a JS number"
    # REST on either replica agrees with the feed.
    for replica in (a, b):
        detail = replica.job(job.job_id)
        assert detail is not None and (detail.status, detail.processed) == ("completed", 30), replica.name


def test_a_client_moves_from_a_to_b_with_its_cursor_and_misses_nothing(replicas):
    a, b = replicas
    job = JobEmitter(uuid.uuid4().hex)
    with WireFeed(a.ws_url) as witness:
        witness.wait_for(lambda m: m["type"] == "snapshot")
        with WireFeed(a.ws_url) as mover:
            send_job(a, job, 10, end=None)
            cursor = mover.wait_for(lambda m: m["type"] == "job_log" and m["data"]["message"] == "line 9")["cursor"]
        # Gone from A: the job goes on, and the client comes back on B with its cursor.
        for index in range(10, 20):
            post_logs(a.url, [job.log(f"line {index}"), job.progress(index + 1)])
        post_logs(a.url, [job.end("completed", processed=20)])
        finished(witness, job.job_id)
        with WireFeed(b.ws_url, cursor=cursor) as moved:
            finished(moved, job.job_id)
            assert "snapshot" not in moved.types() and "resync" not in moved.types(), moved.types()
            resumed = of_job(job.job_id, moved.messages)
        expected = [m for m in of_job(job.job_id, witness.messages) if m["cursor"] > cursor]
    assert lines(resumed) == lines(expected) == [f"line {index}" for index in range(10, 20)]
    assert statuses(resumed) == statuses(expected) == ["completed"]
    assert [m["cursor"] for m in resumed if m["type"] != "job_progress"] == [
        m["cursor"] for m in expected if m["type"] != "job_progress"
    ], "the same messages carry the same cursors on both replicas"


def test_a_cursor_from_before_the_replay_window_gets_a_resync_on_any_replica(replicas):
    _, b = replicas
    with WireFeed(b.ws_url, cursor=1) as feed:
        assert feed.wait_for(lambda m: m["type"] in ("resync", "snapshot"))["type"] == "resync"


def test_a_failing_job_sent_to_a_is_notified_once(replicas, hook: HttpReceiver):
    a, b = replicas
    job = JobEmitter(uuid.uuid4().hex)
    post_logs(a.url, [job.start(name="warehouse-load")])
    post_logs(a.url, [job.end("failed", error_type="TimeoutError", error_message="warehouse API timed out")])
    hook.wait("/ops", predicate=lambda received: job.job_id in received.body, timeout=20)
    # Both replicas folded the failure, so both alert engines judged it; the delivery is recorded once.
    for replica in (a, b):
        wait_for(lambda replica=replica: replica.job(job.job_id) and replica.job(job.job_id).status == "failed")
    alert = wait_for(lambda: b.get_json(f"/api/alerts?job_id={job.job_id}")["items"])[0]
    delivered = wait_for(
        lambda: [
            n for n in b.get_json("/api/notifications")["items"] if n["alert_key"] == alert["key"] and n["sent_at"]
        ]
    )
    assert len(delivered) == 1, delivered
    assert len(hook.at("/ops", lambda received: job.job_id in received.body)) == 1
