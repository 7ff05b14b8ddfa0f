"""Control through a replica that never heard from the job: two sidecars share one PostgreSQL database,
the job sends to the first, an operator steers it through the second."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.job_scripts import start_script
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess, start_together

STEADY_JOB = """
import time
from jobpulse.instrumentation import track_job

with track_job({name!r}, job_id={job_id!r}, job_type="replicated") as job:
    while True:
        job.advance()
        time.sleep(0.005)
"""


@pytest.fixture
def replicas(tmp_path: Path, postgres_server: Any):
    url = postgres_server.new_database()
    started = start_together(
        *(
            SidecarProcess(
                tmp_path, database_url=url, name=name, history_flush_interval_s=0.05, control_poll_max_wait_s=1
            )
            for name in ("heard", "asked")
        )
    )
    try:
        yield list(started)
    finally:
        for sidecar in started:
            sidecar.stop_soon()


def listed(sidecar: SidecarProcess, job_id: str, path: str) -> list[dict[str, Any]]:
    return [item for item in sidecar.get(path, limit=200).json()["items"] if item["id"] == job_id]


def test_a_job_steered_through_a_replica_that_never_heard_from_it_keeps_its_row(replicas) -> None:
    heard, asked = replicas
    job_id, name = uuid.uuid4().hex, f"steady-{uuid.uuid4().hex[:8]}"
    process = start_script(STEADY_JOB.format(name=name, job_id=job_id), heard.url)
    try:
        wait_for(lambda: (job := heard.job(job_id)) and job.processed > 0, timeout=20)
        # The second replica knows the job from the first one's history row only.
        wait_for(lambda: (job := asked.job(job_id)) and job.name == name, timeout=20)
        assert listed(asked, job_id, "/api/monitor/jobs") == []

        requested = asked.post(f"/api/jobs/{job_id}/pause", headers={"x-jobpulse-user": "ops-bot"})
        assert requested.status_code == 202, requested.text
        command_id = requested.json()["id"]

        # The real row, not a job made up from the request: running, or already paused when the
        # command's notification reached the job's replica and its row was written that fast.
        detail = asked.job(job_id)
        assert (detail.name, detail.job_type) == (name, "replicated") and detail.status in ("running", "paused")
        [row] = listed(asked, job_id, "/api/jobs")
        assert row["name"] == name and row["status"] in ("running", "paused")
        assert listed(asked, job_id, "/api/monitor/jobs") == [], "no job in memory made up from the request"

        # The job polls the first replica, which finds the command in the database.
        wait_for(lambda: heard.job(job_id).status == "paused", timeout=20)
        wait_for(lambda: asked.job(job_id).status == "paused", timeout=20)
        [row] = listed(asked, job_id, "/api/jobs")
        assert (row["name"], row["status"]) == (name, "paused")
        outcomes = wait_for(
            lambda: [(c.id, c.state) for c in asked.client.commands(job_id).commands if c.state != "pending"],
            timeout=20,
        )
        assert outcomes == [(command_id, "acknowledged")], "recorded by the replica that heard the acknowledgement"

        assert asked.post(f"/api/jobs/{job_id}/cancel").status_code == 202
        wait_for(lambda: heard.job(job_id).status == "cancelled", timeout=20)
        assert process.wait(15) != 0, "JobCancelled propagates out of the job"
        wait_for(lambda: asked.job(job_id).status == "cancelled", timeout=20)
        assert asked.job(job_id).name == name
        assert listed(asked, job_id, "/api/monitor/jobs") == []
    finally:
        process.kill()

    unknown = uuid.uuid4().hex
    refused = asked.post(f"/api/jobs/{unknown}/pause")
    assert refused.status_code == 404
    assert f"job '{unknown}' not found" in refused.text
