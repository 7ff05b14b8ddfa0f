"""Replicas on one PostgreSQL: a command made through one reaches a job long-polling another at once,
by NOTIFY rather than by rereading the database, and still does after PostgreSQL restarts."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import start_postgres
from tests.support import loopback
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.postgres import PostgresServer
from tests.support.sidecar import SidecarProcess

# Long enough that a poll which had to reread the database would blow the bound below.
DB_POLL_INTERVAL_S = 30
POLL_WAIT_S = 20
PROMPT_S = 5


def replica(workdir: Path, database_url: str, name: str) -> SidecarProcess:
    return SidecarProcess(
        workdir,
        name=name,
        database_url=database_url,
        control_db_poll_interval_s=DB_POLL_INTERVAL_S,
        history_flush_interval_s=0.1,
    ).start()


def metric(sidecar: SidecarProcess, name: str) -> float | None:
    for family in text_string_to_metric_families(sidecar.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return None


def listening(sidecar: SidecarProcess) -> bool:
    return metric(sidecar, "jobpulse_sidecar_control_listener_up") == 1


class Poll(threading.Thread):
    """A job's long poll for its commands, as the instrumentation sends it."""

    def __init__(self, sidecar: SidecarProcess, job_id: str) -> None:
        super().__init__(daemon=True)
        self.sidecar, self.job_id = sidecar, job_id
        self.answer: dict[str, Any] = {}
        self.answered_at = 0.0

    def run(self) -> None:
        response = loopback.post(
            self.sidecar.url + "/api/control/poll",
            json={"job_ids": [self.job_id], "after": 0, "wait": POLL_WAIT_S},
            timeout=POLL_WAIT_S + 10,
        )
        self.answered_at = time.monotonic()
        self.answer = response.json()


def running_job(on: SidecarProcess, seen_by: SidecarProcess) -> str:
    """A job started on ``on`` that ``seen_by`` knows is running (from history)."""
    job_id = uuid.uuid4().hex
    post_logs(on.url, [JobEmitter(job_id).start(name="notify")])
    wait_for(lambda: (job := seen_by.job(job_id)) is not None and job.status == "running", timeout=10, interval=0.05)
    return job_id


def seconds_to_reach(polled: SidecarProcess, asked: SidecarProcess, job_id: str) -> float:
    """Seconds from a pause requested through ``asked`` to the answer of a poll waiting on ``polled``."""
    poll = Poll(polled, job_id)
    poll.start()
    wait_for(lambda: metric(polled, "jobpulse_sidecar_control_polls_waiting") == 1, timeout=10, interval=0.02)
    requested = time.monotonic()
    assert asked.post(f"/api/jobs/{job_id}/pause").status_code == 202
    poll.join(POLL_WAIT_S + 15)
    assert [command["action"] for command in poll.answer["commands"]] == ["pause"], poll.answer
    return poll.answered_at - requested


@contextmanager
def two_listening_replicas(workdir: Path, database_url: str) -> Iterator[tuple[SidecarProcess, SidecarProcess]]:
    first, second = replica(workdir, database_url, "first"), replica(workdir, database_url, "second")
    try:
        wait_for(lambda: listening(first) and listening(second), timeout=10)
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of the test's own: it restarts it."""
    server = start_postgres()
    yield server
    server.stop()


def test_a_command_made_through_one_replica_reaches_a_poll_on_another_at_once(tmp_path, postgres_server):
    with two_listening_replicas(tmp_path, postgres_server.new_database()) as (first, second):
        assert "listening" in first.get("/readyz").json()["details"]["control"]
        job_id = running_job(first, second)
        assert seconds_to_reach(first, second, job_id) < PROMPT_S
        assert metric(first, "jobpulse_sidecar_control_notifications_received_total") >= 1
        assert metric(first, "jobpulse_sidecar_control_polls_waiting") == 0


def test_commands_still_arrive_after_postgresql_restarts(tmp_path, own_postgres):
    with two_listening_replicas(tmp_path, own_postgres.new_database()) as (first, second):
        own_postgres.restart()
        wait_for(
            lambda: all(metric(s, "jobpulse_sidecar_control_listener_reconnects_total") == 1 for s in (first, second)),
            timeout=30,
            interval=0.1,
        )
        wait_for(lambda: listening(first) and listening(second), timeout=10)
        job_id = running_job(first, second)
        assert seconds_to_reach(first, second, job_id) < PROMPT_S
        assert first.process.poll() is None and second.process.poll() is None
