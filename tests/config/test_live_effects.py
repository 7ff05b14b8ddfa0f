"""Settings changed over REST on a running sidecar take effect at once, seen by real clients that stay
connected: WebSocket feeds, instrumented job processes, Apprise channels and a loopback receiver."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from jobpulse.client import Filters, JobLog, JobProgress, JobStatusUpdate, Snapshot
from tests.alerting.jobs import STEERED, JobProcess, unique
from tests.alerting.receivers import HttpReceiver
from tests.auth.conftest import bearer, closing, opened, refusal
from tests.config.conftest import CONFIG, config_sidecar, history, patch_config, put_config
from tests.feed.wire import StalledClient, WireFeed
from tests.support import loopback
from tests.support.feed_watch import FeedWatch
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

ALERTING = """
[alerting]
evaluation_interval_s = 0.1
group_window_s = 0
repeat_interval_s = 0

[alerting.delivery]
base_delay_s = 0.05
max_delay_s = 0.2
"""

HOOK = """
[[alerting.channels]]
name = "hook"
url = "{url}"
"""


@pytest.fixture(scope="module")
def module_sidecar(tmp_path_factory) -> Any:
    process = config_sidecar(tmp_path_factory.mktemp("live"), ALERTING)
    yield process
    process.stop_soon()


@pytest.fixture
def sidecar(module_sidecar: SidecarProcess) -> Any:
    """The module's sidecar as its file sets it up: no feed client left connected by the test before, and
    the runtime changes a test made removed after it. Its jobs, alerts and tokens stay: tests use their own."""
    wait_for(lambda: not clients(module_sidecar), timeout=10)
    yield module_sidecar
    reset = put_config(module_sidecar, {})
    assert reset.status_code == 200, reset.text


def accepted(sidecar: SidecarProcess, body: dict[str, Any]) -> dict[str, Any]:
    response = patch_config(sidecar, body)
    assert response.status_code == 200, response.text
    return response.json()


def clients(sidecar: SidecarProcess) -> list[dict[str, Any]]:
    return sidecar.get_json("/api/monitor/connections")["clients"]


def new_job() -> JobEmitter:
    return JobEmitter(uuid.uuid4().hex)


def is_log(text: str):
    return lambda message: message.data.message == text


def test_log_streaming_off_stops_log_lines_to_connected_clients_but_not_progress(sidecar):
    job, later = new_job(), new_job()
    with FeedWatch(sidecar.url) as feed:
        feed.wait_for(Snapshot)
        post_logs(sidecar.url, [job.start(name="streamed"), job.log("before")])
        feed.wait_for(JobLog, is_log("before"))
        [connected] = clients(sidecar)

        accepted(sidecar, {"log_streaming_enabled": False})
        post_logs(sidecar.url, [job.log("not streamed"), job.progress(5), job.log("nor this")])
        # the end goes separately: in one feed tick with it, the progress would be folded into its status update
        feed.wait_for(JobProgress, lambda m: m.data.processed == 5)
        post_logs(sidecar.url, [job.end(processed=9)])
        feed.wait_for(JobStatusUpdate, lambda m: m.data.status == "completed")

        accepted(sidecar, {"log_streaming_enabled": None})
        post_logs(sidecar.url, [later.start(name="streamed again"), later.log("after")])
        feed.wait_for(JobLog, is_log("after"))
        lines = [m.data.message for m in feed.messages if isinstance(m, JobLog)]
        assert lines == ["before", "after"]
        assert [client["id"] for client in clients(sidecar)] == [connected["id"]], "the same connection throughout"

    def stored() -> list[str]:
        return [line["message"] for line in sidecar.get_json(f"/api/jobs/{job.job_id}/logs")["items"]]

    # history is written behind the feed, so its lines arrive a moment after the job's end is broadcast
    wait_for(lambda: len(stored()) >= 3)
    assert stored() == ["before", "not streamed", "nor this"], "history keeps them all"


def test_a_smaller_client_queue_applies_to_the_next_frames(tmp_path):
    sidecar = config_sidecar(
        tmp_path,
        "feed_client_queue_frames = 100000\nfeed_client_max_lag_s = 600\n",
        feed_send_timeout_s=120,
        feed_tick_ms=5,
    )
    try:
        job = new_job()
        post_logs(sidecar.url, [job.start(name="flood")])
        stalled = StalledClient("127.0.0.1", sidecar.port)
        padding = "x" * 4000

        def backlog() -> dict[str, Any] | None:
            post_logs(sidecar.url, [job.log(padding) for _ in range(50)])
            [client] = clients(sidecar)
            return client if client["queued_frames"] >= 5 else None

        before = wait_for(backlog, timeout=60, interval=0)
        assert before["resyncs"] == 0, "a long queue: the client is behind but still served"

        accepted(sidecar, {"feed_client_queue_frames": 2})
        post_logs(sidecar.url, [job.log(padding)])
        after = wait_for(lambda: (found := clients(sidecar)) and found[0]["resyncs"] and found[0], timeout=10)
        assert after["id"] == before["id"] and after["frames_dropped"] > 0
        stalled.close()
    finally:
        sidecar.stop_soon()


def test_the_connection_limit_turns_new_clients_away_and_keeps_the_connected_ones(sidecar):
    job = new_job()
    with FeedWatch(sidecar.url) as first:
        first.wait_for(Snapshot)
        accepted(sidecar, {"feed_max_connections": 1})
        refused = WireFeed(sidecar.ws_url)
        with pytest.raises(ConnectionClosed) as closed:
            refused.connection.recv(timeout=10)
        assert closed.value.rcvd.code == 1013
        assert "feed_max_connections" in closed.value.rcvd.reason and "is 1" in closed.value.rcvd.reason
        refused.close()

        post_logs(sidecar.url, [job.start(name="still served")])
        first.wait_for(JobStatusUpdate, lambda m: m.data.id == job.job_id)
        accepted(sidecar, {"feed_max_connections": 2})
        with FeedWatch(sidecar.url) as second:
            assert second.wait_for(Snapshot)


def test_pings_at_the_new_interval_drop_a_client_that_does_not_answer_and_keep_one_that_does(sidecar):
    accepted(sidecar, {"feed_ping_interval_s": 0.3})
    job = new_job()
    with FeedWatch(sidecar.url) as answering:
        answering.wait_for(Snapshot)
        silent = StalledClient("127.0.0.1", sidecar.port)
        received = bytearray()

        def disconnected() -> bool:
            chunk = silent.read_some()
            received.extend(chunk)
            return not chunk

        wait_for(disconnected, timeout=20, interval=0)
        assert b"\x89" in received, "a ping frame came before the close"
        silent.close()
        post_logs(sidecar.url, [job.start(name="after the pings")])
        answering.wait_for(JobStatusUpdate, lambda m: m.data.id == job.job_id)


def test_rate_limits_turned_on_while_running_refuse_the_next_request_over_the_budget(tmp_path):
    sidecar = config_sidecar(tmp_path, "rate_limit_enabled = false\nrate_limit_rest = '1000/second'\n")
    try:
        assert all(status(sidecar, "/api/monitor/jobs") == 200 for _ in range(5)), "no limit yet"
        accepted(sidecar, {"rate_limit_enabled": True, "rate_limit_rest": "3 per minute"})
        assert [status(sidecar, "/api/monitor/jobs") for _ in range(4)] == [200, 200, 200, 429]
        refused = loopback.get(sidecar.url + "/api/monitor/jobs", timeout=10).json()
        assert refused["extra"]["limit"] == "rate_limit_rest" and refused["extra"]["rate"] == "3 per minute"
    finally:
        sidecar.stop_soon()


def status(sidecar: SidecarProcess, path: str) -> int:
    return loopback.get(sidecar.url + path, timeout=10).status_code


def test_resource_figures_are_not_kept_while_metrics_collection_is_off(sidecar):
    job = new_job()
    post_logs(sidecar.url, [job.start(name="sampled"), job.resources(100 << 20)])
    assert sidecar.get_json(f"/api/jobs/{job.job_id}")["memory_rss_bytes"] == 100 << 20

    accepted(sidecar, {"metrics_collection_enabled": False})
    post_logs(sidecar.url, [job.resources(200 << 20)])
    detail = sidecar.get_json(f"/api/jobs/{job.job_id}")
    assert detail["memory_rss_bytes"] is None and detail["status"] == "running", "a heartbeat, without figures"

    accepted(sidecar, {"metrics_collection_enabled": True})
    post_logs(sidecar.url, [job.resources(300 << 20)])
    assert sidecar.get_json(f"/api/jobs/{job.job_id}")["memory_rss_bytes"] == 300 << 20


def test_a_lowered_stall_threshold_fires_on_a_running_job(tmp_path, receiver: HttpReceiver):
    toml = ALERTING + HOOK.format(url=receiver.url("json", "/hook")) + "[alerting.rules.job_stalled]\nafter_s = 300\n"
    sidecar = config_sidecar(tmp_path, toml)
    job = JobProcess(sidecar, STEERED, name=unique("stuck"))
    try:
        job.send("advance 5")
        wait_for(lambda: job.seen()["processed"] == 5, timeout=20)
        answer = accepted(sidecar, {"alerting": {"rules": {"job_stalled": {"after_s": 0.5}}}})
        assert answer["values"]["alerting"]["rules"]["job_stalled"]["after_s"] == 0.5
        [message] = receiver.wait("/hook", lambda m: job.id in m.body)
        assert message.title.startswith(f"[WARNING] Job {job.name} is stalled")
        job.finish()
    finally:
        job.kill()
        sidecar.stop_soon()


def test_a_channel_added_while_running_gets_the_next_alert(sidecar, receiver: HttpReceiver):
    answer = accepted(sidecar, {"alerting": {"channels": [{"name": "added", "url": receiver.url("json", "/added")}]}})
    assert answer["sources"]["alerting.channels"] == "runtime"
    assert [channel["name"] for channel in sidecar.get_json("/api/notifications/channels")] == ["added"]
    job = new_job()
    post_logs(sidecar.url, [job.start(name="nightly-load"), job.end("failed", processed=3)])
    [message] = receiver.wait("/added", lambda m: job.job_id in m.body)
    assert message.title.startswith("[HIGH] Job nightly-load failed")


def test_a_rule_turned_off_stops_firing_and_notifications_off_hold_them_back(sidecar, receiver: HttpReceiver):
    accepted(
        sidecar,
        {
            "alerting": {
                "channels": [{"name": "hook", "url": receiver.url("json", "/hook")}],
                "rules": {"job_failed": {"enabled": False}},
            }
        },
    )
    ignored, held, notified = new_job(), new_job(), new_job()
    post_logs(sidecar.url, [ignored.start(name="ignored"), ignored.end("failed")])

    accepted(sidecar, {"alerting": {"rules": {"job_failed": {"enabled": True}}, "notifications_enabled": False}})
    post_logs(sidecar.url, [held.start(name="held"), held.end("failed")])
    fired = wait_for(lambda: sidecar.get_json("/api/alerts?job_id=" + held.job_id)["items"], timeout=10)
    assert fired[0]["state"] == "firing", "alerts still fire and are stored while nobody is notified"

    accepted(sidecar, {"alerting": {"notifications_enabled": True}})
    receiver.wait("/hook", lambda m: held.job_id in m.body)
    post_logs(sidecar.url, [notified.start(name="notified"), notified.end("failed")])
    receiver.wait("/hook", lambda m: notified.job_id in m.body)
    assert not receiver.at("/hook", lambda m: ignored.job_id in m.body)
    assert sidecar.get_json("/api/alerts?job_id=" + ignored.job_id)["items"] == []


def progress_gaps(feed: FeedWatch, job_id: str, count: int) -> list[float] | None:
    """Seconds between the last ``count + 1`` progress messages of the job, once there are that many."""
    times = [m.timestamp for m in feed.of_job(job_id, JobProgress)]
    if len(times) <= count:
        return None
    return [
        (later - earlier).total_seconds() for earlier, later in zip(times[-count - 1 : -1], times[-count:], strict=True)
    ]


def test_running_jobs_adopt_the_progress_interval_the_sidecar_suggests(sidecar):
    job = JobProcess(sidecar, STEERED, name=unique("busy"), INTERVAL="0.002")
    try:
        job.seen()
        with FeedWatch(sidecar.url, Filters(job_ids=[job.id], message_types=["job_progress"])) as feed:
            accepted(sidecar, {"progress_interval_s": 1.0})
            seen = len(feed.of_job(job.id, JobProgress))

            # Judged on each progress message as it arrives, over all received so far.
            def slowed(_: JobProgress) -> bool:
                gaps = progress_gaps(feed, job.id, 3)
                return len(feed.of_job(job.id, JobProgress)) > seen + 3 and bool(gaps) and min(gaps) >= 0.8

            feed.wait_for(JobProgress, slowed, timeout=30)
            accepted(sidecar, {"progress_interval_s": None})

            def back_to_its_own(_: JobProgress) -> bool:
                gaps = progress_gaps(feed, job.id, 10)
                return bool(gaps) and max(gaps) < 0.5

            feed.wait_for(JobProgress, back_to_its_own, timeout=30)
        job.finish()
    finally:
        job.kill()


def test_authentication_turned_on_closes_anonymous_feeds_and_wants_tokens_until_turned_off(sidecar):
    # A token made while authentication is off, through the tokens API, as the local admin.
    created = sidecar.post("/api/auth/tokens", json={"name": "ops", "role": "admin"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    with opened(sidecar.ws_url) as (anonymous, _):
        accepted(sidecar, {"auth_enabled": True})
        code, reason = closing(anonymous)
        assert code == 4401 and "now required" in reason

    refused = loopback.get(sidecar.url + "/api/jobs", headers={"X-JobPulse-User": "alice"}, timeout=10)
    assert refused.status_code == 401, "a name alone is no credential any more"
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert loopback.get(sidecar.url + "/api/jobs", headers=bearer(token), timeout=10).status_code == 200
    me = loopback.get(sidecar.url + "/api/auth/whoami", headers=bearer(token), timeout=10).json()
    assert (me["name"], me["auth_enabled"]) == ("ops", True)
    code, _ = refusal(sidecar.ws_url)
    assert code == 4401
    with opened(sidecar.ws_url, **bearer(token)):
        pass

    turned_off = loopback.patch(sidecar.url + CONFIG, json={"auth_enabled": False}, headers=bearer(token), timeout=30)
    assert turned_off.status_code == 200, turned_off.text
    me = loopback.get(sidecar.url + "/api/auth/whoami", headers={"X-JobPulse-User": "alice"}, timeout=10).json()
    assert me == {"name": "alice", "role": "admin", "auth_enabled": False}
    with opened(sidecar.ws_url) as (_, snapshot):
        assert snapshot["type"] == "snapshot"
    assert [entry["who"] for entry in history(sidecar)[:2]] == ["ops", "local"]
