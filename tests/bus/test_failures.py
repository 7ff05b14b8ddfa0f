"""Replicas when something dies: a replica (SIGKILL), Redis (restarted without its data)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bus.conftest import replica_process, start_redis
from tests.conftest import start_postgres
from tests.feed.wire import WireFeed, job_id_of
from tests.support import loopback
from tests.support.otlp_build import JobEmitter, logs_request, post_logs
from tests.support.polling import wait_for
from tests.support.postgres import PostgresServer
from tests.support.redis_server import RedisServer
from tests.support.sidecar import SidecarProcess, start_together

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fleet(tmp_path: Path, postgres_server: Any) -> Iterator[tuple[RedisServer, SidecarProcess, SidecarProcess]]:
    """A Redis of this test's own and replicas A and B, which the test may kill or stop."""
    redis = start_redis(tmp_path)
    url = postgres_server.new_database()
    a, b = start_together(replica_process(tmp_path, "a", url, redis), replica_process(tmp_path, "b", url, redis))
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
        response = loopback.post(
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


@pytest.fixture
def fleet_on_own_postgres(tmp_path: Path) -> Iterator[tuple[PostgresServer, str, SidecarProcess, SidecarProcess]]:
    """Replicas A and B on a PostgreSQL server of this test's own, which it stops and starts."""
    postgres = start_postgres()
    redis = start_redis(tmp_path)
    url = postgres.new_database()
    a, b = start_together(replica_process(tmp_path, "a", url, redis), replica_process(tmp_path, "b", url, redis))
    yield postgres, url, a, b
    b.stop()
    a.stop()
    redis.stop()
    postgres.stop()


def history_problem(sidecar: SidecarProcess) -> str | None:
    """What /readyz says of history while it is 503, or None while ready."""
    response = sidecar.get("/readyz")
    return None if response.status_code == 200 else response.json()["checks"]["history"]


def stored(database_url: str, job_id: str) -> tuple[str | None, int]:
    """The job's status and how many of its log lines the database holds (not memory, not writes pending)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> tuple[str | None, int]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                key = {"id": job_id}
                status = await connection.scalar(text("SELECT status FROM jobs WHERE id = :id"), key)
                lines = await connection.scalar(text("SELECT count(*) FROM job_logs WHERE job_id = :id"), key)
                return status, lines
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_postgresql_briefly_down_history_catches_up_after_and_nothing_crashes(fleet_on_own_postgres):
    postgres, url, a, b = fleet_on_own_postgres
    job = JobEmitter(uuid.uuid4().hex)
    name = f"orders-import-{job.job_id[:8]}"
    post_logs(a.url, [job.start(name=name, total=40)])
    for index in range(10):
        post_logs(a.url, [job.log(f"line {index}"), job.progress(index + 1)])
    postgres.stop_server()
    for replica in (a, b):
        problem = wait_for(lambda replica=replica: history_problem(replica), timeout=30)
        assert "database unreachable" in problem, problem
    # The job goes on meanwhile, to both replicas: the bus takes its events, the live view follows.
    for index in range(10, 40):
        post_logs((a, b)[index % 2].url, [job.log(f"line {index}"), job.progress(index + 1)])
    wait_for(lambda: (found := b.job(job.job_id)) and found.processed == 40)
    assert history_problem(a) and history_problem(b), "still down: readiness still says so"
    assert a.get("/healthz").status_code == 200 and b.get("/healthz").status_code == 200
    postgres.start_server()
    for replica in (a, b):
        wait_for(lambda replica=replica: replica.get("/readyz").status_code == 200, timeout=30)
    post_logs(b.url, [job.end("completed", processed=40)])
    assert wait_for(lambda: stored(url, job.job_id) == ("completed", 40), timeout=30)
    for replica in (a, b):
        listed = wait_for(lambda replica=replica: replica.get_json(f"/api/jobs?name={name}")["items"])
        assert [(item["id"], item["status"], item["processed"]) for item in listed] == [(job.job_id, "completed", 40)]
        logged = replica.get_json(f"/api/jobs/{job.job_id}/logs?limit=100")["items"]
        assert [line["message"] for line in logged] == [f"line {index}" for index in range(40)]
    assert a.process.poll() is None and b.process.poll() is None
