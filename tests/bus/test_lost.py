"""Lost marks on the bus: a job that falls silent is marked lost once across the fleet, and the mark
carries one cursor on every replica, so a client that resumes on another replica misses it not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.alerting.receivers import HttpReceiver
from tests.bus.conftest import ALERTING, replica_pair
from tests.feed.wire import WireFeed, job_id_of
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.redis_server import RedisServer
from tests.support.sidecar import SidecarProcess

pytestmark = pytest.mark.timeout(120)

# Lost marks are notified on the same channel as failures.
LOST_ALERTS = ALERTING + '\n[alerting.rules.job_lost]\nchannels = ["ops"]\n'


@pytest.fixture(scope="module")
def quick_to_lose(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: Any, redis: RedisServer, hook: HttpReceiver
) -> Iterator[tuple[SidecarProcess, SidecarProcess]]:
    """Replicas A and B that call a job lost after 2 s of silence, checking every 0.1 s."""
    quick = {"heartbeat_window_s": 2, "lost_check_interval_s": 0.1}
    with replica_pair(tmp_path_factory.mktemp("lost"), postgres_server, redis, hook, LOST_ALERTS, **quick) as pair:
        yield pair


def is_lost(message: dict, job_id: str) -> bool:
    status_update = message["type"] == "job_status_update" and job_id_of(message) == job_id
    return status_update and message["data"]["status"] == "lost"


def test_a_silent_job_is_marked_lost_once_and_a_client_resuming_on_the_other_replica_sees_it(
    quick_to_lose, hook: HttpReceiver
):
    a, b = quick_to_lose
    job = JobEmitter(uuid.uuid4().hex)
    with WireFeed(a.ws_url, job_id=job.job_id) as witness:
        with WireFeed(a.ws_url, job_id=job.job_id) as mover:
            mover.wait_for(lambda m: m["type"] == "snapshot")
            post_logs(a.url, [job.start(name="orders-import", total=10)])
            post_logs(a.url, [job.log("last words"), job.progress(3)])
            cursor = mover.wait_for(lambda m: m["type"] == "job_log")["cursor"]
        # The client leaves A before the job is lost, and the job says nothing more.
        marked = witness.wait_for(lambda m: is_lost(m, job.job_id), timeout=30)
        assert marked["cursor"] > cursor
        for replica in (a, b):
            wait_for(lambda replica=replica: replica.job(job.job_id).status == "lost")
        with WireFeed(b.ws_url, cursor=cursor, job_id=job.job_id) as moved:
            resumed = moved.wait_for(lambda m: is_lost(m, job.job_id))
            assert "resync" not in moved.types() and "snapshot" not in moved.types(), moved.types()
        assert resumed["cursor"] == marked["cursor"], "the same mark, with the same cursor, on both replicas"
        hook.wait("/ops", predicate=lambda received: job.job_id in received.body and "lost" in received.body)
        # Both replicas' detectors judged the job (many checks have run by now): one mark was folded.
        assert [m for m in witness.messages if is_lost(m, job.job_id)] == [marked]
    assert len(hook.at("/ops", lambda received: job.job_id in received.body)) == 1


def test_a_lost_job_heard_from_again_is_running_on_every_replica(quick_to_lose):
    a, b = quick_to_lose
    job = JobEmitter(uuid.uuid4().hex)
    post_logs(b.url, [job.start(name="orders-import")])
    for replica in (a, b):
        wait_for(lambda replica=replica: replica.job(job.job_id).status == "lost", timeout=30)
    post_logs(a.url, [job.progress(5)])
    for replica in (a, b):
        detail = wait_for(lambda replica=replica: (found := replica.job(job.job_id)).status == "running" and found)
        assert detail.processed == 5
