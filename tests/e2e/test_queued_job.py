"""End to end: a job queued, waiting, then running, and its wait in REST, the live feed, /metrics and
history; a job cancelled while it waits. Real job processes, a real sidecar, a real WebSocket client."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobpulse.client import JobStatusUpdate, Snapshot
from tests.support.feed_watch import FeedWatch
from tests.support.job_scripts import start_script
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

# Waits in its queue until stdin says "start" (obeying commands meanwhile, as a worker waiting for a
# slot would), then works until stdin says "done" (or closes).
QUEUED_JOB = """
import os, select, sys
from jobpulse.instrumentation import track_job

with track_job(os.environ["JOB_NAME"], job_id=os.environ["JOB_ID"], job_type=os.environ["JOB_TYPE"],
               queue=os.environ["QUEUE"], priority=3, queued=True) as job:
    while not select.select([sys.stdin], [], [], 0.05)[0]:
        job.checkpoint()
    sys.stdin.readline()
    job.start()
    job.advance(10)
    sys.stdin.readline()
"""


@pytest.fixture
def sidecar(tmp_path):
    process = SidecarProcess(tmp_path, history_flush_interval_s=0.05, control_poll_max_wait_s=1).start()
    yield process
    process.stop_soon()


class QueuedJob:
    def __init__(self, sidecar: SidecarProcess, job_type: str, queue: str) -> None:
        self.id = uuid.uuid4().hex
        self.name = f"queued-{self.id[:8]}"
        self.process = start_script(
            QUEUED_JOB, sidecar.url, JOB_ID=self.id, JOB_NAME=self.name, JOB_TYPE=job_type, QUEUE=queue
        )

    def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()


def status_update(job: QueuedJob, status: str):
    return lambda m: m.data.id == job.id and m.data.status == status


def metric(sidecar: SidecarProcess, name: str, **labels: str) -> float | None:
    text = sidecar.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items()):
                return sample.value
    return None


def test_a_job_queued_waiting_then_running_shows_its_wait_everywhere(sidecar):
    job_type, queue = f"csv-{uuid.uuid4().hex[:6]}", f"imports-{uuid.uuid4().hex[:6]}"
    with FeedWatch(sidecar.url) as feed:
        feed.wait_for(Snapshot)
        job = QueuedJob(sidecar, job_type, queue)

        pending = feed.wait_for(JobStatusUpdate, status_update(job, "pending"), timeout=20).data
        assert (pending.queue, pending.priority, pending.name, pending.job_type) == (
            queue,
            3,
            job.name,
            job_type,
        )
        assert pending.started_at is None and pending.execution_time_s is None
        waiting = wait_for(lambda: (d := sidecar.get(f"/api/jobs/{job.id}").json())["wait_s"] >= 0.5 and d, timeout=20)
        assert (waiting["status"], waiting["queued_at"] is not None) == ("pending", True)
        queues = sidecar.get("/api/monitor/queues", queue=queue).json()
        assert queues["pending"] == 1
        [view] = queues["queues"]
        assert (view["queue"], view["pending"], view["oldest_job_id"]) == (queue, 1, job.id)
        assert view["oldest_wait_s"] >= 0.5
        assert [(t["job_type"], t["pending"]) for t in view["by_type"]] == [(job_type, 1)]
        assert metric(sidecar, "jobpulse_queue_pending_jobs", queue=queue, job_type=job_type) == 1
        assert job.id in {j["id"] for j in sidecar.get("/api/monitor/jobs", status="pending").json()["items"]}

        job.say("start")
        running = feed.wait_for(JobStatusUpdate, status_update(job, "running"), timeout=20).data
        assert running.previous_status == "pending"
        wait_s = running.wait_s
        assert wait_s >= 0.5 and running.started_at is not None
        assert sidecar.get("/api/monitor/queues", queue=queue).json() == {"pending": 0, "queues": []}
        assert metric(sidecar, "jobpulse_queue_pending_jobs", queue=queue, job_type=job_type) == 0

        job.say("done")
        assert job.process.wait(30) == 0, job.process.stderr.read() if job.process.stderr else ""
        ended = feed.wait_for(JobStatusUpdate, status_update(job, "completed"), timeout=20).data
        assert ended.wait_s == wait_s, "once the job started, its wait is fixed"

    assert metric(sidecar, "jobpulse_jobs_wait_seconds_count", job_name=job.name, queue=queue) == 1
    page = sidecar.get("/api/jobs", job_type=job_type).json()
    assert [(item["id"], item["wait_s"]) for item in page["items"]] == [(job.id, wait_s)]

    def analysed():
        groups = sidecar.get("/api/analytics", group_by="job_type").json()["groups"]
        group = next((g for g in groups if g["key"] == job_type), None)
        return group if group and group["waited"] == 1 else None

    group = wait_for(analysed, timeout=20)
    assert group["wait_s"]["p50"] == group["wait_s"]["p95"] == group["wait_s"]["max"] == pytest.approx(wait_s)
    assert group["duration_s"]["p50"] is not None and group["duration_s"]["p50"] < 30

    sidecar.stop()
    sidecar.start()
    assert sidecar.get(f"/api/jobs/{job.id}").json()["wait_s"] == wait_s, "history keeps the wait"


def test_a_job_cancelled_while_it_waits_ends_without_running(sidecar):
    job = QueuedJob(sidecar, "csv", f"imports-{uuid.uuid4().hex[:6]}")
    wait_for(lambda: sidecar.get(f"/api/jobs/{job.id}").json().get("status") == "pending", timeout=20)
    response = sidecar.post(f"/api/jobs/{job.id}/cancel", json={"reason": "not needed today"})
    assert response.status_code == 202, response.text
    assert job.process.wait(30) != 0, "JobCancelled propagates out of the waiting job"
    detail = wait_for(
        lambda: (d := sidecar.get(f"/api/jobs/{job.id}").json())["status"] == "cancelled" and d, timeout=20
    )
    assert (detail["previous_status"], detail["started_at"], detail["execution_time_s"]) == ("pending", None, None)
    assert detail["wait_s"] > 0
