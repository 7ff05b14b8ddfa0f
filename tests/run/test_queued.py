"""A command a scheduler queued: ``jobpulse run --queued-at`` reports its wait like an instrumented job's."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.run.wrapper import job_named, run, unique
from tests.support.sidecar import SidecarProcess

QUEUED_FOR_S = 90.0


@pytest.fixture
def sidecar(tmp_path):
    process = SidecarProcess(tmp_path, history_flush_interval_s=0.05).start()
    yield process
    process.stop_soon()


def test_a_run_queued_at_an_iso_time_reports_its_queue_and_wait_from_memory_and_history(sidecar) -> None:
    name, queue = unique("nightly"), unique("etl")
    # An offset other than UTC's: the time is read with its timezone, not as local or UTC time.
    queued = datetime.now(UTC).astimezone(timezone(timedelta(hours=2))) - timedelta(seconds=QUEUED_FOR_S)
    before = time.time()
    done = run(
        [
            *("--name", name, "--queue", queue, "--priority", "-3", "--queued-at", queued.isoformat()),
            *("--", sys.executable, "-c", "print('loaded')"),
        ],
        sidecar.url,
    )
    after = time.time()
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"loaded\n"
    job_id = job_named(sidecar, name).id
    ended = sidecar.client.wait_for_end(job_id, timeout=20)
    expected_wait = (before - queued.timestamp(), after - queued.timestamp())

    def check(detail) -> None:
        assert (detail.status, detail.queue, detail.priority) == ("completed", queue, -3)
        assert detail.queued_at == queued
        assert expected_wait[0] <= detail.wait_s <= expected_wait[1], "the wait is the start minus --queued-at"

    check(ended)
    [row] = sidecar.client.jobs(name=name).items
    assert (row.queue, row.wait_s) == (queue, ended.wait_s)

    sidecar.stop()
    sidecar.start()
    check(sidecar.job(job_id))
    [row] = sidecar.client.jobs(name=name).items
    assert (row.id, row.queue, row.priority, row.wait_s) == (job_id, queue, -3, ended.wait_s)


def test_a_run_queued_at_epoch_seconds_waits_in_the_default_queue(shared_sidecar) -> None:
    sidecar, name = shared_sidecar, unique("epoch")
    queued = time.time() - QUEUED_FOR_S
    before = time.time()
    done = run(["--name", name, "--queued-at", f"{queued:.6f}", "--", sys.executable, "-c", "pass"], sidecar.url)
    after = time.time()
    assert done.returncode == 0, done.stderr
    ended = sidecar.client.wait_for_end(job_named(sidecar, name).id, timeout=20)
    assert (ended.status, ended.queue, ended.priority) == ("completed", "default", None)
    assert ended.queued_at.timestamp() == pytest.approx(queued, abs=1e-6)
    assert before - queued <= ended.wait_s <= after - queued


def test_a_run_not_queued_has_no_wait(shared_sidecar) -> None:
    sidecar, name = shared_sidecar, unique("unqueued")
    assert run(["--name", name, "--", sys.executable, "-c", "pass"], sidecar.url).returncode == 0
    ended = sidecar.client.wait_for_end(job_named(sidecar, name).id, timeout=20)
    assert (ended.status, ended.queue, ended.queued_at, ended.wait_s) == ("completed", None, None, None)
