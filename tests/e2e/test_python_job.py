"""End to end: instrumented Python job processes -> real sidecar -> real WebSocket clients and REST."""

from __future__ import annotations

import uuid

import pytest

from tests.support.feed_client import FeedReader, job_id_of
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
    process = start_script(JOB.replace("sys.argv[1], sys.argv[2], sys.argv[3]", f"{job_id!r}, {job_type!r}, {mode!r}"),
                           sidecar.url)
    return job_id, process


def finished(feed: FeedReader, job_id: str, status: str):
    return feed.wait_for(
        lambda m: m["type"] == "job_status_update" and job_id_of(m) == job_id and m["data"]["status"] == status,
        timeout=30,
    )


def test_a_job_is_seen_live_and_rest_agrees(shared_sidecar):
    with FeedReader(shared_sidecar.ws_url) as feed:
        assert feed.wait_for(lambda m: m["type"] == "snapshot")
        job_id, process = run_job(shared_sidecar)
        summary = finished(feed, job_id, "completed")["data"]
        assert process.wait(30) == 0, process.stderr.read()

        mine = feed.of_job(job_id, "job_status_update", "job_progress", "job_log")
        types = [m["type"] for m in mine]
        assert types[0] == "job_status_update" and mine[0]["data"]["status"] == "running"
        assert types[-1] == "job_status_update"
        progress = [m["data"]["processed"] for m in mine if m["type"] == "job_progress"]
        assert progress and progress == sorted(progress), "progress arrives in order"
        lines = [m["data"] for m in mine if m["type"] == "job_log"]
        assert any(line["level"] == "warning" and line["message"] == "row 7 rejected" for line in lines)
        assert any(line["message"] == "reading 300 rows" and line["logger"] == "etl.orders" for line in lines)

        assert (summary["processed"], summary["failed"], summary["total"]) == (300, 6, 300)
        assert summary["progress_percent"] == 100.0 and summary["rate_per_s"] > 0

    detail = shared_sidecar.get(f"/api/jobs/{job_id}").json()
    assert (detail["name"], detail["job_type"], detail["owner"], detail["status"]) == (
        "orders-import", "csv_import", "ops", "completed")
    assert [(step["name"], step["state"]) for step in detail["steps"]] == [("extract", "completed"), ("load", "completed")]
    assert detail["steps"][0]["duration_s"] >= 0.1
    assert detail["trace_id"] and detail["pid"] == process.pid and detail["host"]
    assert detail["log_counts"]["warning"] == 6
    status = shared_sidecar.get(f"/api/jobs/{job_id}/status").json()
    assert status["processed"] == summary["processed"] and status["previous_status"] == "running"
    metrics = shared_sidecar.get(f"/api/jobs/{job_id}/metrics").json()
    assert metrics["failed"] == 6 and metrics["error_rate"] == pytest.approx(6 / 300)
    assert metrics["step_durations_s"]["extract"] >= 0.1
    logs = shared_sidecar.get(f"/api/jobs/{job_id}/logs", level="warning").json()
    assert {line["level"] for line in logs["items"]} == {"warning"}
    listed = shared_sidecar.get("/api/jobs", job_type="csv_import", status="completed").json()
    assert job_id in {item["id"] for item in listed["items"]}


def test_a_failing_job_reports_what_failed_where(shared_sidecar):
    with FeedReader(shared_sidecar.ws_url) as feed:
        job_id, process = run_job(shared_sidecar, mode="fail")
        summary = finished(feed, job_id, "failed")["data"]
        assert process.wait(30) == 1
        assert "ValueError: row 200" in process.stderr.read()
    assert summary["error"] == {"type": "ValueError", "message": "row 200: amount is not a number", "step": "load"}
    assert summary["processed"] == 200
    detail = shared_sidecar.get(f"/api/jobs/{job_id}").json()
    assert 'line 18, in <module>' in detail["error"]["stacktrace"]
    assert detail["steps"][1]["state"] == "failed"


def test_filters_deliver_only_matching_jobs(shared_sidecar):
    kind = uuid.uuid4().hex[:6]
    with FeedReader(shared_sidecar.ws_url, job_type=f"api-{kind}") as api_feed, \
            FeedReader(shared_sidecar.ws_url, status="failed") as failures:
        api_feed.wait_for(lambda m: m["type"] == "snapshot")
        failures.wait_for(lambda m: m["type"] == "snapshot")
        api_job, api_process = run_job(shared_sidecar, job_type=f"api-{kind}")
        csv_job, csv_process = run_job(shared_sidecar, mode="fail", job_type=f"csv-{kind}")
        finished(api_feed, api_job, "completed")
        finished(failures, csv_job, "failed")
        api_process.wait(30), csv_process.wait(30)
        assert not api_feed.of_job(csv_job)
        assert not [m for m in failures.of_job(api_job) if m["type"] != "snapshot"]


def test_a_client_that_reconnects_with_its_cursor_misses_nothing(shared_sidecar):
    with FeedReader(shared_sidecar.ws_url) as witness:
        witness.wait_for(lambda m: m["type"] == "snapshot")
        job_id, process = run_job(shared_sidecar, mode="slow")
        feed = FeedReader(shared_sidecar.ws_url)
        first = feed.wait_for(lambda m: m["type"] == "job_progress" and job_id_of(m) == job_id, timeout=30)
        feed.close()
        finished(witness, job_id, "completed")
        with FeedReader(shared_sidecar.ws_url, cursor=first["cursor"]) as back:
            finished(back, job_id, "completed")
            last = back.of_job(job_id)[-1]["cursor"]
            expected = [m for m in witness.messages if first["cursor"] < m["cursor"] <= last]
            assert [m for m in back.messages if m["cursor"] <= last] == expected
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
        wait_for(lambda: sidecar.get(f"/api/jobs/{job_id}").status_code == 200, timeout=15)
        sidecar.stop()
        restarted = type(sidecar)(tmp_path, port=sidecar.port).start()
        for _ in range(3):
            process.stdin.write("go\n")
        process.stdin.write("stop\n")
        process.stdin.flush()
        state = wait_for(lambda: (r := restarted.get(f"/api/jobs/{job_id}")).status_code == 200
                         and r.json()["status"] == "completed" and r.json(), timeout=30)
        assert state["processed"] == 5
        assert process.wait(30) == 0
        restarted.stop()
    finally:
        process.kill()
        sidecar.stop()
