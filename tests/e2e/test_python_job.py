"""End to end: instrumented Python job processes -> real sidecar -> real WebSocket clients and REST."""

from __future__ import annotations

import uuid

import pytest

from jobpulse.client import Filters, JobLog, JobProgress, JobStatusUpdate, Snapshot
from jobpulse.client.jobs import JobError
from tests.support.feed_watch import FeedWatch
from tests.support.job_scripts import start_script
from tests.support.polling import wait_for

JOB = """
import logging, sys, time
from jobpulse.instrumentation import track_job

log = logging.getLogger("etl.orders")
job_id, job_type, mode = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(range(300))
with track_job("orders-import", job_id=job_id, job_type=job_type, owner="ops", steps=["extract", "load"]) as job:
    with job.step("extract"):
        log.info("reading %d rows", len(rows))
        time.sleep(0.1)
    with job.step("load"):
        for row in job.iter(rows):
            if row % 50 == 7:
                job.advance(0, failed=1)
                log.warning("row %d rejected", row)
            if mode == "fail" and row == 200:
                raise ValueError("row 200: amount is not a number")
            if mode == "slow":
                time.sleep(0.01)
            elif row % 30 == 0:
                time.sleep(0.02)
"""


def run_job(sidecar, mode: str = "ok", job_type: str = "csv_import"):
    job_id = uuid.uuid4().hex
    process = start_script(
        JOB.replace("sys.argv[1], sys.argv[2], sys.argv[3]", f"{job_id!r}, {job_type!r}, {mode!r}"), sidecar.url
    )
    return job_id, process


def finished(feed: FeedWatch, job_id: str, status: str) -> JobStatusUpdate:
    return feed.wait_for(JobStatusUpdate, lambda m: m.data.id == job_id and m.data.status == status, timeout=30)


def test_a_job_is_seen_live_and_rest_agrees(shared_sidecar):
    with FeedWatch(shared_sidecar.url) as feed:
        assert feed.wait_for(Snapshot)
        job_id, process = run_job(shared_sidecar)
        summary = finished(feed, job_id, "completed").data
        assert process.wait(30) == 0, process.stderr.read()

        mine = feed.of_job(job_id, JobStatusUpdate, JobProgress, JobLog)
        assert isinstance(mine[0], JobStatusUpdate) and mine[0].data.status == "running"
        assert isinstance(mine[-1], JobStatusUpdate)
        progress = [m.data.processed for m in mine if isinstance(m, JobProgress)]
        assert progress and progress == sorted(progress), "progress arrives in order"
        lines = [m.data for m in mine if isinstance(m, JobLog)]
        assert any(line.level == "warning" and line.message == "row 7 rejected" for line in lines)
        assert any(line.message == "reading 300 rows" and line.logger == "etl.orders" for line in lines)

        assert (summary.processed, summary.failed, summary.total) == (300, 6, 300)
        assert summary.progress_percent == 100.0 and summary.rate_per_s > 0

    client = shared_sidecar.client
    detail = client.job(job_id)
    assert (detail.name, detail.job_type, detail.owner, detail.status) == (
        "orders-import",
        "csv_import",
        "ops",
        "completed",
    )
    assert [(step.name, step.state) for step in detail.steps] == [("extract", "completed"), ("load", "completed")]
    assert detail.steps[0].duration_s >= 0.1
    assert detail.trace_id and detail.pid == process.pid and detail.host
    assert detail.log_counts["warning"] == 6
    status = client.job_status(job_id)
    assert status.processed == summary.processed and status.previous_status == "running"
    metrics = client.job_metrics(job_id)
    assert metrics.failed == 6 and metrics.error_rate == pytest.approx(6 / 300)
    assert metrics.step_durations_s["extract"] >= 0.1
    logs = client.logs(job_id, level="warning")
    assert {line.level for line in logs.items} == {"warning"}
    listed = client.jobs(job_type="csv_import", status=["completed"])
    assert job_id in {item.id for item in listed.items}


def test_a_failing_job_reports_what_failed_where(shared_sidecar):
    with FeedWatch(shared_sidecar.url) as feed:
        job_id, process = run_job(shared_sidecar, mode="fail")
        summary = finished(feed, job_id, "failed").data
        assert process.wait(30) == 1
        assert "ValueError: row 200" in process.stderr.read()
    assert summary.error == JobError("ValueError", "row 200: amount is not a number", "load")
    assert summary.processed == 200
    detail = shared_sidecar.client.job(job_id)
    assert "line 18, in <module>" in detail.error.stacktrace
    assert detail.steps[1].state == "failed"


def test_filters_deliver_only_matching_jobs(shared_sidecar):
    kind = uuid.uuid4().hex[:6]
    with (
        FeedWatch(shared_sidecar.url, Filters(job_types=[f"api-{kind}"])) as api_feed,
        FeedWatch(shared_sidecar.url, Filters(statuses=["failed"])) as failures,
    ):
        api_feed.wait_for(Snapshot)
        failures.wait_for(Snapshot)
        api_job, api_process = run_job(shared_sidecar, job_type=f"api-{kind}")
        csv_job, csv_process = run_job(shared_sidecar, mode="fail", job_type=f"csv-{kind}")
        finished(api_feed, api_job, "completed")
        finished(failures, csv_job, "failed")
        api_process.wait(30), csv_process.wait(30)
        assert not api_feed.of_job(csv_job)
        assert not failures.of_job(api_job)


def test_a_client_that_reconnects_with_its_cursor_misses_nothing(shared_sidecar):
    with FeedWatch(shared_sidecar.url) as witness:
        witness.wait_for(Snapshot)
        job_id, process = run_job(shared_sidecar, mode="slow")
        with FeedWatch(shared_sidecar.url) as feed:
            first = feed.wait_for(JobProgress, lambda m: m.data.id == job_id, timeout=30)
        finished(witness, job_id, "completed")
        with FeedWatch(shared_sidecar.url, cursor=first.cursor) as back:
            finished(back, job_id, "completed")
            last = back.of_job(job_id)[-1].cursor
            expected = [m for m in witness.messages if first.cursor < m.cursor <= last]
            assert [m for m in back.messages if m.cursor <= last] == expected
        assert process.wait(30) == 0


def test_a_job_whose_sidecar_restarts_is_seen_again(tmp_path):
    from tests.support.sidecar import SidecarProcess

    sidecar = SidecarProcess(tmp_path).start()
    job_id = uuid.uuid4().hex
    script = f"""
import sys, time
from jobpulse.instrumentation import track_job
with track_job("long-runner", job_id={job_id!r}) as job:
    for line in sys.stdin:
        job.advance()
        if line.strip() == "stop":
            break
"""
    process = start_script(script, sidecar.url)
    try:
        process.stdin.write("go\n")
        process.stdin.flush()
        wait_for(lambda: sidecar.job(job_id), timeout=15)
        sidecar.stop()
        restarted = type(sidecar)(tmp_path, port=sidecar.port).start()
        for _ in range(3):
            process.stdin.write("go\n")
        process.stdin.write("stop\n")
        process.stdin.flush()
        wait_for(lambda: restarted.job(job_id), timeout=30)
        state = restarted.client.wait_for_end(job_id, timeout=30)
        assert (state.status, state.processed) == ("completed", 5)
        assert process.wait(30) == 0
        restarted.stop()
    finally:
        process.kill()
        sidecar.stop_soon()
