"""Replicas when something dies: a replica (SIGKILL), Redis (restarted without its data)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bus.conftest import start_redis, start_replica
from tests.feed.wire import WireFeed, job_id_of
from tests.support.otlp_build import JobEmitter, logs_request, post_logs
from tests.support.polling import wait_for
from tests.support.redis_server import RedisServer
from tests.support.sidecar import SidecarProcess

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fleet(tmp_path: Path, postgres_server: Any) -> Iterator[tuple[RedisServer, SidecarProcess, SidecarProcess]]:
    """A Redis of this test's own and replicas A and B, which the test may kill or stop."""
    redis = start_redis(tmp_path)
    url = postgres_server.new_database()
    a = start_replica(tmp_path, "a", url, redis)
    b = start_replica(tmp_path, "b", url, redis)
    yield redis, a, b
    b.stop()
    a.stop()
    redis.stop()


def test_a_replica_killed_mid_job_loses_nothing_it_answered(fleet):
    _, a, b = fleet
    job = JobEmitter(uuid.uuid4().hex)
    post_logs(a.url, [job.start(name="orders-import", total=40)])
    for index in range(20):
        post_logs(a.url, [job.log(f"line {index}"), job.progress(index + 1)])
    # Every request above was answered 200 by A: once A dies, its events are still on the bus.
    a.kill()
    # The job's exporter retries to B from where it was.
    for index in range(20, 40):
        post_logs(b.url, [job.log(f"line {index}"), job.progress(index + 1)])
    post_logs(b.url, [job.end("completed", processed=40)])
    detail = wait_for(lambda: (found := b.job(job.job_id)) and found.status == "completed" and found)
    assert detail.processed == 40
    logged = wait_for(
        lambda: (page := b.get_json(f"/api/jobs/{job.job_id}/logs?limit=100")["items"]) and len(page) == 40 and page
    )
    assert sorted(line["message"] for line in logged) == sorted(f"line {index}" for index in range(40))


def test_redis_restarted_without_its_data_resyncs_every_client_and_the_replicas_go_on(fleet):
    redis, a, b = fleet
    job = JobEmitter(uuid.uuid4().hex)
    with WireFeed(b.ws_url) as feed:
        feed.wait_for(lambda m: m["type"] == "snapshot")
        post_logs(a.url, [job.start(name="orders-import")])
        feed.wait_for(lambda m: m["type"] == "job_status_update" and job_id_of(m) == job.job_id)
        redis.stop()
        # While Redis is away, the job is told to retry (503) rather than answered and forgotten.
        response = httpx.post(
            a.url + "/v1/logs",
            content=logs_request([job.log("during the outage")]),
            headers={"content-type": "application/x-protobuf"},
            timeout=30,
        )
        assert response.status_code == 503, response.text
        redis.start()
        # Redis came back empty: B cannot know what it missed, so its clients are told.
        resync = feed.wait_for(lambda m: m["type"] == "resync", timeout=30)
        assert any(j["id"] == job.job_id for j in resync["data"]["jobs"])
        wait_for(lambda: a.get("/readyz").status_code == 200, timeout=30)
        post_logs(a.url, [job.log("after the outage"), job.end("completed", processed=1)])
        feed.wait_for(
            lambda m: (
                m["type"] == "job_status_update" and job_id_of(m) == job.job_id and m["data"]["status"] == "completed"
            )
        )
    metrics = b.get("/metrics").text
    assert "jobpulse_sidecar_bus_gaps_total 1.0" in metrics and "jobpulse_sidecar_bus_reconnects_total" in metrics
