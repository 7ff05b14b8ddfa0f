"""Pausing, resuming and cancelling real job processes through the REST API, the CLI and the feed."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from jobpulse.client import Filters, JobStatusUpdate
from jobpulse.sidecar.auth.principal import Principal
from jobpulse.sidecar.control.access import may_control
from tests.support.feed_watch import FeedWatch
from tests.support.job_scripts import start_script
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

STEADY_JOB = """
import pathlib, sys, time
from jobpulse.instrumentation import track_job
cleanup = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else {cleanup!r})
try:
    with track_job("steady", job_id={job_id!r}, owner="ana") as job:
        while True:
            job.advance()
            time.sleep(0.005)
finally:
    cleanup.write_text("cleaned up")
"""


def start_steady(sidecar: SidecarProcess, tmp_path: Path, **env: str):
    job_id = uuid.uuid4().hex
    cleanup = tmp_path / f"{job_id}.cleanup"
    process = start_script(STEADY_JOB.format(job_id=job_id, cleanup=str(cleanup)), sidecar.url, **env)
    wait_for(lambda: (job := sidecar.job(job_id)) and job.processed > 0, timeout=20)
    return job_id, process, cleanup


def control(sidecar: SidecarProcess, job_id: str, action: str, **body):
    return sidecar.post(f"/api/jobs/{job_id}/{action}", json=body or None, headers={"x-jobpulse-user": "ops-bot"})


def test_pause_resume_cancel_a_real_job(shared_sidecar, tmp_path):
    sidecar = shared_sidecar
    job_id, process, cleanup = start_steady(sidecar, tmp_path)
    try:
        with FeedWatch(sidecar.url, Filters(job_ids=[job_id])) as feed:
            requested = control(sidecar, job_id, "pause", reason="maintenance window")
            assert requested.status_code == 202
            assert requested.json() | {"id": 0, "requested_at": None} == {
                "id": 0,
                "job_id": job_id,
                "action": "pause",
                "reason": "maintenance window",
                "requested_by": "ops-bot",
                "requested_at": None,
                "state": "pending",
                "resolved_at": None,
            }
            feed.wait_for(JobStatusUpdate, lambda m: m.data.pause_requested)
            paused = feed.wait_for(JobStatusUpdate, lambda m: m.data.status == "paused")
            assert not paused.data.pause_requested and paused.data.previous_status == "running"

            frozen = sidecar.job(job_id).processed
            time.sleep(1.0)  # the pause window itself: nothing may move during it
            assert sidecar.job(job_id).processed == frozen
            assert process.poll() is None, "a paused job waits, it does not exit"

            assert control(sidecar, job_id, "pause").status_code == 409
            assert control(sidecar, job_id, "resume").status_code == 202
            feed.wait_for(JobStatusUpdate, lambda m: m.data.status == "running" and m.data.previous_status == "paused")
            wait_for(lambda: sidecar.job(job_id).processed > frozen + 10)

            assert control(sidecar, job_id, "cancel", reason="bad input file").status_code == 202
            ended = feed.wait_for(JobStatusUpdate, lambda m: m.data.status == "cancelled")
            assert not ended.data.cancel_requested
        assert process.wait(15) != 0, "JobCancelled propagates out of the job"
        assert cleanup.read_text() == "cleaned up", "the job's finally block ran"
        assert "JobCancelled: bad input file" in process.stderr.read()

        commands = sidecar.client.commands(job_id).commands
        assert [(c.action, c.state, c.requested_by) for c in commands] == [
            ("pause", "acknowledged", "ops-bot"),
            ("resume", "acknowledged", "ops-bot"),
            ("cancel", "acknowledged", "ops-bot"),
        ]
        assert all(c.resolved_at for c in commands)
        assert control(sidecar, job_id, "resume").status_code == 409
    finally:
        process.kill()


def test_cancel_while_paused_and_resume_before_the_pause_took_effect(shared_sidecar, tmp_path):
    sidecar = shared_sidecar
    job_id, process, cleanup = start_steady(sidecar, tmp_path)
    try:
        assert control(sidecar, job_id, "pause").status_code == 202
        wait_for(lambda: sidecar.job(job_id).status == "paused")
        assert control(sidecar, job_id, "cancel").status_code == 202
        assert sidecar.client.wait_for_end(job_id, timeout=15).status == "cancelled"
        assert process.wait(15) != 0 and cleanup.exists()
    finally:
        process.kill()

    job_id, process, _ = start_steady(sidecar, tmp_path)
    try:
        assert control(sidecar, job_id, "pause").status_code == 202
        assert control(sidecar, job_id, "resume").status_code == 202
        wait_for(
            lambda: (s := sidecar.job(job_id)).status == "running" and not s.pending_command and s.processed > 0,
            timeout=15,
        )
        commands = sidecar.client.commands(job_id).commands
        wait_for(
            lambda: (
                [c.state for c in sidecar.client.commands(job_id).commands]
                in (["superseded", "acknowledged"], ["acknowledged", "acknowledged"])
            )
        )
        assert [c.action for c in commands] == ["pause", "resume"]
    finally:
        process.kill()


def test_impossible_transitions_are_409_naming_the_status_and_unknown_jobs_404(shared_sidecar, tmp_path):
    sidecar = shared_sidecar
    missing = control(sidecar, "no-such-job", "pause")
    assert missing.status_code == 404 and "no-such-job" in missing.json()["detail"]
    # A job that does not listen keeps its requests pending, so the conflicts are deterministic.
    job_id, process, _ = start_steady(sidecar, tmp_path, JOBPULSE_CONTROL="0")
    try:
        resume = control(sidecar, job_id, "resume")
        assert resume.status_code == 409 and "is running" in resume.json()["detail"]
        bad_body = sidecar.post(f"/api/jobs/{job_id}/pause", json={"reason": 42})
        assert bad_body.status_code == 422 and "reason" in str(bad_body.json())
        assert control(sidecar, job_id, "cancel").status_code == 202
        again = control(sidecar, job_id, "pause")
        assert again.status_code == 409 and "cancel is already pending" in again.json()["detail"]
    finally:
        process.kill()
    finished = JobEmitter(uuid.uuid4().hex)
    post_logs(sidecar.url, [finished.start(name="done"), finished.end(processed=1)])
    done = control(sidecar, finished.job_id, "cancel")
    assert done.status_code == 409 and "is completed" in done.json()["detail"]


def test_a_job_that_does_not_listen_is_flagged_overdue(tmp_path):
    sidecar = SidecarProcess(tmp_path, control_ack_timeout_s=1).start()
    job_id, process, _ = start_steady(sidecar, tmp_path, JOBPULSE_CONTROL="0")
    try:
        assert control(sidecar, job_id, "pause").status_code == 202
        pending = wait_for(lambda: (p := sidecar.job(job_id).pending_command) and p.overdue and p, timeout=10)
        assert pending.action == "pause" and pending.waiting_s >= 1  # overdue past 1 s, shown to a tenth
        assert sidecar.job(job_id).status == "running" and sidecar.job(job_id).pause_requested
        monitored = sidecar.client.active_jobs().items
        assert next(job for job in monitored if job.id == job_id).pending_command.overdue, (
            "the monitor view applies the configured acknowledgement timeout too"
        )
    finally:
        process.kill()
        sidecar.stop_soon()


def test_the_cli_controls_jobs(shared_sidecar, tmp_path):
    job_id, process, _ = start_steady(shared_sidecar, tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobpulse.sidecar", "jobs", *args, "--url", shared_sidecar.url],
            capture_output=True,
            text=True,
            timeout=30,
        )

    try:
        paused = cli("pause", job_id, "--reason", "from the terminal")
        assert paused.returncode == 0 and "pause" in paused.stdout and "pending" in paused.stdout
        wait_for(lambda: shared_sidecar.job(job_id).status == "paused")
        refused = cli("pause", job_id)
        assert refused.returncode == 1 and "is paused" in refused.stderr
        missing = cli("cancel", "no-such-job")
        assert missing.returncode == 1 and "not found" in missing.stderr
        assert cli("cancel", job_id).returncode == 0
        assert shared_sidecar.client.wait_for_end(job_id, timeout=15).status == "cancelled"
    finally:
        process.kill()


@pytest.mark.parametrize(
    ("principal", "owner", "allowed"),
    [
        (Principal("ana", "viewer"), "ana", True),
        (Principal("bob", "viewer"), "ana", False),
        (Principal(None, "viewer"), None, False),
        (Principal("bob", "operator"), "ana", True),
        (Principal("root", "admin"), None, True),
    ],
)
def test_owners_and_operators_may_control(principal, owner, allowed):
    assert may_control(principal, owner) is allowed
