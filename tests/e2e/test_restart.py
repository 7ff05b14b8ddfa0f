"""A sidecar killed with SIGKILL mid-job comes back with its history, and its jobs carry on."""

from __future__ import annotations

import time
import uuid

from jobpulse.client import JobStatusUpdate
from tests.support.feed_watch import FeedWatch
from tests.support.job_scripts import start_script
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

WAITING_JOB = """
import sys
from jobpulse.instrumentation import track_job
with track_job({name!r}, job_id={job_id!r}, total=10) as job:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
        job.advance()
        job.log(f"advanced to {{job.processed}}")
"""


def test_sigkill_loses_no_finished_history_and_running_jobs_carry_on(tmp_path):
    settings = {"heartbeat_window_s": 2, "lost_check_interval_s": 0.2}
    job_env = {"JOBPULSE_RESOURCES_INTERVAL": "0.5"}
    first = SidecarProcess(tmp_path, **settings).start()
    finished_id, survivor_id, doomed_id = (uuid.uuid4().hex for _ in range(3))
    finished = start_script(WAITING_JOB.format(name="finished", job_id=finished_id), first.url, **job_env)
    survivor = start_script(WAITING_JOB.format(name="survivor", job_id=survivor_id), first.url, **job_env)
    doomed = start_script(WAITING_JOB.format(name="doomed", job_id=doomed_id), first.url, **job_env)
    try:
        finished.communicate("a\nb\nc\nstop\n", timeout=30)
        assert finished.returncode == 0
        for process in (survivor, doomed):
            process.stdin.write("a\n")
            process.stdin.flush()
        wait_for(lambda: all((s := first.job(job)) and s.processed == 1 for job in (survivor_id, doomed_id)))
        # Listing writes what is pending: from here on, the finished job is on disk.
        listed = first.client.jobs(status=["completed"])
        assert finished_id in {item.id for item in listed.items}

        first.kill()
        doomed.kill()
        doomed.wait()
        second = SidecarProcess(tmp_path, port=first.port, **settings).start()

        done = second.job(finished_id)
        assert (done.status, done.processed, done.name) == ("completed", 3, "finished")
        lines = second.client.logs(finished_id).items
        assert [line.message for line in lines] == ["advanced to 1", "advanced to 2", "advanced to 3"]
        assert second.job(survivor_id).status == "running", "restored, not forgotten"

        survivor.stdin.write("b\nc\n")
        survivor.stdin.flush()
        wait_for(lambda: second.job(survivor_id).processed == 3, timeout=15)
        lost = wait_for(lambda: (s := second.job(doomed_id)).status == "lost" and s, timeout=15)
        assert lost.previous_status == "running" and lost.processed == 1
        assert second.job(survivor_id).status == "running", "a job that keeps its heartbeat is not lost"

        survivor.communicate("stop\n", timeout=30)
        assert second.client.wait_for_end(survivor_id, timeout=15).status == "completed"
        second.stop()
    finally:
        for process in (finished, survivor, doomed):
            process.kill()
        first.kill()


def test_a_job_that_died_with_the_sidecar_is_lost_soon_after_restart_and_a_live_one_is_not(tmp_path):
    # A heartbeat window far longer than the test: only the restart rule can mark a job lost in time. The
    # grace is well above the longest wait between a job's attempts to deliver (5 s), so the survivor is
    # heard in it even on a loaded machine.
    settings = {"heartbeat_window_s": 600, "lost_check_interval_s": 0.2, "restart_grace_s": 8}
    job_env = {"JOBPULSE_RESOURCES_INTERVAL": "0.5"}
    first = SidecarProcess(tmp_path, **settings).start()
    survivor_id, doomed_id = (uuid.uuid4().hex for _ in range(2))
    survivor = start_script(WAITING_JOB.format(name="survivor", job_id=survivor_id), first.url, **job_env)
    doomed = start_script(WAITING_JOB.format(name="doomed", job_id=doomed_id), first.url, **job_env)
    try:
        for process in (survivor, doomed):
            process.stdin.write("a\n")
            process.stdin.flush()
        wait_for(lambda: all((s := first.job(job)) and s.processed == 1 for job in (survivor_id, doomed_id)))
        doomed.kill()
        doomed.wait()
        first.stop()

        with SidecarProcess(tmp_path, port=first.port, **settings) as second:
            restarted = time.monotonic()
            assert second.job(doomed_id).status == "running", "restored as it was stored"
            with FeedWatch(second.url) as feed:
                feed.wait_for(JobStatusUpdate, lambda m: m.data.id == doomed_id and m.data.status == "lost", timeout=30)
                silent_for = time.monotonic() - restarted
                lost = second.job(doomed_id)
                assert lost.previous_status == "running" and lost.processed == 1
                assert silent_for < 20, f"lost {silent_for:.1f} s after the restart, with a 600 s heartbeat window"

                survivor.stdin.write("b\n")
                survivor.stdin.flush()
                wait_for(lambda: second.job(survivor_id).processed == 2, timeout=15)
                feed.drain()
                survivor_statuses = {m.data.status for m in feed.of_job(survivor_id, JobStatusUpdate)}
            assert "lost" not in survivor_statuses, "a job heard from after the restart is not lost"
            assert second.job(survivor_id).status == "running"
            survivor.communicate("stop\n", timeout=30)
            assert second.client.wait_for_end(survivor_id, timeout=15).status == "completed"
    finally:
        for process in (survivor, doomed):
            process.kill()
        first.kill()
