"""The helpers on the live feed, with real instrumented jobs: waiting for a job's end, following its
log lines, waiting for a control command's outcome."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from jobpulse.client import AsyncClient, Client, JobDetail, NotFound
from jobpulse.client.monitor import FeedClientInfo
from tests.client.recording import eventually, eventually_async
from tests.client.scripts import COUNTING_JOB, TALKING_JOB, Job
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess


async def test_wait_for_end_returns_the_final_state_of_a_real_job(shared_sidecar) -> None:
    job = Job(TALKING_JOB, shared_sidecar.url)
    try:
        async with AsyncClient(shared_sidecar.url) as client:
            job.say("info one", "info two")
            await eventually(lambda: job_seen(shared_sidecar, job.id, processed=2))
            waiting = asyncio.create_task(client.wait_for_end(job.id, timeout=30))
            # The wait listens on the feed for this job once it found it running over REST.
            await eventually_async(
                client.connections, lambda found: any(watches(feed, job.id) for feed in found.clients)
            )
            assert not waiting.done()
            job.say("info three", "end")
            final = await waiting
    finally:
        job.kill()
    assert (final.id, final.status, final.processed, final.ended) == (job.id, "completed", 3, True)
    assert [line.message for line in final.recent_logs] == ["one", "two", "three"]


async def test_wait_for_end_sees_an_end_between_its_first_look_and_the_feed(shared_sidecar) -> None:
    emitter = JobEmitter(f"ends-meanwhile-{uuid.uuid4().hex[:8]}")
    post_logs(shared_sidecar.url, [emitter.start(name="meanwhile")])

    class EndsAfterFirstLook(AsyncClient):
        """Reads the job over REST; after the first read, the job ends before the caller goes on."""

        looks = 0

        async def job(self, job_id: str) -> JobDetail:
            detail = await super().job(job_id)
            self.looks += 1
            if self.looks == 1:
                post_logs(shared_sidecar.url, [emitter.end(processed=7)])
            return detail

    async with EndsAfterFirstLook(shared_sidecar.url) as client:
        final = await client.wait_for_end(emitter.job_id, timeout=10)
    assert (final.status, final.processed, client.looks) == ("completed", 7, 2)


def test_wait_for_end_of_a_job_that_already_ended_answers_at_once(shared_sidecar) -> None:
    job = Job(TALKING_JOB, shared_sidecar.url)
    job.say("warning bad row", "fail the database went away")
    assert "RuntimeError" in job.finish()
    with Client(shared_sidecar.url) as client:
        wait_for(lambda: job_seen(shared_sidecar, job.id, status="failed"))
        final = client.wait_for_end(job.id, timeout=5)
        assert (final.status, final.error.type, final.error.message) == (
            "failed",
            "RuntimeError",
            "the database went away",
        )
        assert "RuntimeError" in final.error.stacktrace
        with pytest.raises(NotFound):
            client.wait_for_end("no-such-job", timeout=5)


def test_wait_for_end_gives_up_after_its_timeout(shared_sidecar) -> None:
    job = Job(COUNTING_JOB, shared_sidecar.url)
    try:
        with Client(shared_sidecar.url) as client:
            wait_for(lambda: job_seen(shared_sidecar, job.id, status="running"))
            with pytest.raises(TimeoutError):
                client.wait_for_end(job.id, timeout=0.5)
            assert client.job(job.id).status == "running"
    finally:
        job.kill()


async def test_follow_logs_yields_stored_lines_then_live_ones_until_the_end(shared_sidecar) -> None:
    job = Job(TALKING_JOB, shared_sidecar.url)
    try:
        job.say("warning early 1", "info quiet", "error early 2")
        await eventually(lambda: job_seen(shared_sidecar, job.id, processed=3))
        lines = []
        async with AsyncClient(shared_sidecar.url) as client:
            async for line in client.follow_logs(job.id, level="warning"):
                lines.append(line)
                if line.message == "early 2":
                    job.say("info still quiet", "critical late 3", "warning late 4", "end")
    finally:
        job.kill()
    assert [(line.level, line.message) for line in lines] == [
        ("warning", "early 1"),
        ("error", "early 2"),
        ("critical", "late 3"),
        ("warning", "late 4"),
    ]
    assert [line.seq for line in lines] == sorted(line.seq for line in lines)


def test_following_the_logs_of_an_ended_job_gives_its_lines_and_stops(shared_sidecar) -> None:
    job = Job(TALKING_JOB, shared_sidecar.url)
    job.say("info a", "info b", "end")
    job.finish()
    with Client(shared_sidecar.url) as client:
        wait_for(lambda: job_seen(shared_sidecar, job.id, status="completed"))
        assert [line.message for line in client.follow_logs(job.id)] == ["a", "b"]


def test_a_blocking_wait_that_times_out_loses_no_line(shared_sidecar) -> None:
    job = Job(TALKING_JOB, shared_sidecar.url)
    try:
        job.say("info one")
        wait_for(lambda: job_seen(shared_sidecar, job.id, processed=1))
        with Client(shared_sidecar.url) as client, client.follow_logs(job.id) as lines:
            assert lines.next(timeout=10).message == "one"
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                lines.next(timeout=0.3)
            assert 0.3 <= time.monotonic() - started < 3
            job.say("info two", "end")
            assert [line.message for line in lines] == ["two"], "the line the timed-out wait was getting comes next"
    finally:
        job.kill()


def test_a_command_is_acknowledged_by_a_real_job(shared_sidecar) -> None:
    job = Job(COUNTING_JOB, shared_sidecar.url)
    try:
        with Client(shared_sidecar.url) as client:
            wait_for(lambda: job_seen(shared_sidecar, job.id, status="running"))
            paused = client.wait_for_command(client.pause(job.id), timeout=15)
            assert (paused.outcome, paused.command.state) == ("acknowledged", "acknowledged")
            assert paused.command.resolved_at is not None and client.job(job.id).status == "paused"
            resumed = client.wait_for_command(client.resume(job.id), timeout=15)
            assert resumed.outcome == "acknowledged"
            cancelled = client.wait_for_command(client.cancel(job.id, reason="enough"), timeout=15)
            assert cancelled.outcome == "acknowledged"
            assert client.wait_for_end(job.id, timeout=15).status == "cancelled"
    finally:
        job.kill()


def test_a_command_a_job_does_not_act_on_times_out(shared_sidecar) -> None:
    job = Job(COUNTING_JOB, shared_sidecar.url, JOBPULSE_CONTROL="0")
    try:
        with Client(shared_sidecar.url) as client:
            wait_for(lambda: job_seen(shared_sidecar, job.id, status="running"))
            outcome = client.wait_for_command(client.pause(job.id), timeout=0.5)
            assert (outcome.outcome, outcome.command.state) == ("timed_out", "pending")
            job.finish()
            assert client.wait_for_command(outcome.command, timeout=15).outcome == "expired"
    finally:
        job.kill()


def watches(feed: FeedClientInfo, job_id: str) -> bool:
    return job_id in ((feed.subscription.get("job_ids") or {}).get("include") or ())


def job_seen(sidecar: SidecarProcess, job_id: str, **expected: object) -> bool:
    answer = sidecar.get(f"/api/jobs/{job_id}")
    return answer.status_code == 200 and all(answer.json()[key] == value for key, value in expected.items())
