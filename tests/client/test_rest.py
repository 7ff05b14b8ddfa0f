"""The REST API through both clients, against a real sidecar holding real jobs: typed answers, pages
crossed without duplicates, control, alerting and monitoring."""

from __future__ import annotations

import json
import uuid

import pytest

from jobpulse.client import AsyncClient, Client, Conflict, JobDetail, JobSummary, LogLine, NotFound
from tests.client.recording import eventually_async
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for

PAGE = 50


@pytest.fixture(scope="module")
def client(shared_sidecar):
    with Client(shared_sidecar.url) as client:
        yield client


@pytest.fixture(scope="module")
def many_jobs(shared_sidecar) -> tuple[str, set[str]]:
    """Two and a half pages of finished jobs of one new type."""
    job_type = f"paged_{uuid.uuid4().hex[:8]}"
    ids, records = set(), []
    for number in range(PAGE * 2 + PAGE // 2):
        emitter = JobEmitter(f"{job_type}-{number:03d}")
        records += [emitter.start(name=f"paged-{number % 7}", job_type=job_type), emitter.end(processed=number)]
        ids.add(emitter.job_id)
    post_logs(shared_sidecar.url, records)
    return job_type, ids


@pytest.fixture(scope="module")
def chatty_job(shared_sidecar) -> JobEmitter:
    """A running job with 30 log lines, every third a warning, in two steps."""
    emitter = JobEmitter(f"chatty-{uuid.uuid4().hex[:8]}")
    records = [emitter.start(name="chatty", job_type="client_rest", total=40)]
    records += [emitter.log(f"line {n}", level="warning" if n % 3 == 0 else "info") for n in range(30)]
    records += [emitter.progress(12, failed=1, total=40, step="load")]
    post_logs(shared_sidecar.url, records)
    return emitter


def test_history_iteration_crosses_pages_without_duplicates(client, many_jobs) -> None:
    job_type, ids = many_jobs
    first = client.jobs(job_type=job_type, limit=PAGE)
    assert (len(first.items), first.total, first.total_exact) == (PAGE, len(ids), True) and first.next_cursor
    for sort in ("-started_at", "name", "-duration"):
        seen = [job.id for job in client.iter_jobs(job_type=job_type, sort=sort, limit=PAGE)]
        assert len(seen) == len(set(seen)) == len(ids), sort
        assert set(seen) == ids
    by_name = [job.name for job in client.iter_jobs(job_type=job_type, sort="name", limit=PAGE)]
    assert by_name == sorted(by_name)


async def test_history_iteration_crosses_pages_asynchronously(shared_sidecar, many_jobs) -> None:
    job_type, ids = many_jobs
    async with AsyncClient(shared_sidecar.url) as client:
        seen = [job.id async for job in client.iter_jobs(job_type=job_type, status=["completed"], limit=PAGE)]
        assert len(seen) == len(ids) and set(seen) == ids
        assert [job async for job in client.iter_jobs(job_type=job_type, status=["failed"])] == []


def test_a_job_reads_as_structs(client, chatty_job) -> None:
    detail = client.job(chatty_job.job_id)
    assert isinstance(detail, JobDetail) and isinstance(detail, JobSummary)
    assert (detail.status, detail.processed, detail.failed, detail.total, detail.ended) == ("running", 12, 1, 40, False)
    assert detail.step is not None and detail.step.name == "load"
    assert detail.log_counts == {"debug": 0, "info": 20, "warning": 10, "error": 0, "critical": 0}
    assert detail.started_at is not None and detail.started_at.tzinfo is not None
    status = client.job_status(chatty_job.job_id)
    assert (status.status, status.progress_percent, status.previous_status) == ("running", 30.0, None)
    metrics = client.job_metrics(chatty_job.job_id)
    assert (metrics.successful, metrics.error_count) == (11, 1)
    assert chatty_job.job_id in {job.id for job in client.jobs(q="CHATTY", status=["running", "paused"]).items}
    assert chatty_job.job_id not in {job.id for job in client.jobs(q="chatty", status=["completed"]).items}
    assert chatty_job.job_id in {job.id for job in client.active_jobs(job_type="client_rest").items}


def test_logs_page_filter_and_download(client, chatty_job) -> None:
    lines = list(client.iter_logs(chatty_job.job_id, limit=7))
    assert all(isinstance(line, LogLine) for line in lines)
    assert [line.message for line in lines] == [f"line {n}" for n in range(30)]
    warnings = list(client.iter_logs(chatty_job.job_id, level="warning", limit=4))
    assert [line.message for line in warnings] == [f"line {n}" for n in range(0, 30, 3)]
    ndjson = b"".join(client.download_logs(chatty_job.job_id, level="warning")).decode().splitlines()
    assert [json.loads(line)["message"] for line in ndjson] == [line.message for line in warnings]
    text = b"".join(client.download_logs(chatty_job.job_id, format="text")).decode().splitlines()
    assert len(text) == 30 and text[3].split()[1:] == ["WARNING", "line", "3"]


def test_control_answers_with_the_command_and_refuses_what_cannot_be(client, shared_sidecar) -> None:
    emitter = JobEmitter(f"steered-{uuid.uuid4().hex[:8]}")
    post_logs(shared_sidecar.url, [emitter.start(name="steered")])
    command = client.pause(emitter.job_id, reason="maintenance")
    assert (command.job_id, command.action, command.state, command.reason) == (
        emitter.job_id,
        "pause",
        "pending",
        "maintenance",
    )
    with pytest.raises(Conflict, match="a pause is already pending"):
        client.pause(emitter.job_id)
    assert client.job(emitter.job_id).pending_command.command_id == command.id
    cancel = client.cancel(emitter.job_id)
    listing = client.commands(emitter.job_id)
    assert [(c.id, c.action) for c in listing.commands] == [(command.id, "pause"), (cancel.id, "cancel")]
    assert listing.cursor == cancel.id and client.commands(emitter.job_id, after=cancel.id).commands == []


def test_alerts_silences_and_notifications(client, shared_sidecar) -> None:
    emitter = JobEmitter(f"failing-{uuid.uuid4().hex[:8]}")
    post_logs(shared_sidecar.url, [emitter.start(name="failing-import"), emitter.end("failed", processed=2)])
    [alert] = wait_for(lambda: client.alerts(job_id=emitter.job_id).items)
    assert (alert.rule, alert.state, alert.job_name) == ("job_failed", "firing", "failing-import")
    assert client.alerts(job_id=emitter.job_id, state="resolved").items == []

    silence = client.create_silence(job_name="failing-import", duration_s=600, reason="known", created_by="ops")
    assert (silence.job_name, silence.reason, silence.created_by, silence.active) == (
        "failing-import",
        "known",
        "ops",
        True,
    )
    assert silence.id in {listed.id for listed in client.silences()}
    client.delete_silence(silence.id)
    assert silence.id not in {listed.id for listed in client.silences(include_expired=True)}
    with pytest.raises(NotFound):
        client.delete_silence(silence.id)

    assert client.notifications(rule="job_failed").items == [] and client.channels() == []
    with pytest.raises(NotFound, match="no channel named or tagged 'ops'"):
        client.test_notification("ops")


async def test_analytics_and_monitor(shared_sidecar, many_jobs, chatty_job) -> None:
    job_type, ids = many_jobs
    async with AsyncClient(shared_sidecar.url) as client:
        # Analytics read stored history, which is written behind the fold.
        report = await eventually_async(
            lambda: client.analytics(bucket="hour"), lambda report: any(g.key == job_type for g in report.groups)
        )
        [group] = [group for group in report.groups if group.key == job_type]
        assert (group.runs, group.completed, group.success_rate) == (len(ids), len(ids), 1.0)
        assert group.trend and group.duration_s.p95 is not None
        by_name = await client.analytics(group_by="name")
        assert {"paged-0", "chatty"} <= {group.key for group in by_name.groups}
        steps = await client.step_analytics("no-such-job")
        assert (steps.job_name, steps.steps) == ("no-such-job", [])
        ready = await client.readiness()
        assert ready.status == "ok" and ready.checks["feed"] == "ok"
        ingest = await client.ingest()
        assert ingest.records_applied >= len(ids) * 2
        assert (await client.connections()).cursor > 0
        letters = await client.dead_letters()
        assert (letters.items, letters.total, letters.next_cursor) == ([], 0, None)
        assert [letter async for letter in client.iter_dead_letters(job_id=chatty_job.job_id)] == []
