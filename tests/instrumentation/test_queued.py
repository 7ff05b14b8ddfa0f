"""Jobs that wait before they run: the queued record, then the start when the wait is over."""

from __future__ import annotations

import json

from jobpulse.conventions import (
    ATTR_JOB_ID,
    ATTR_JOB_NAME,
    ATTR_JOB_OWNER,
    ATTR_JOB_TYPE,
    ATTR_PRIORITY,
    ATTR_PROCESSED,
    ATTR_QUEUE,
    ATTR_SEQ,
    ATTR_STATUS,
    EVENT_END,
    EVENT_PROGRESS,
    EVENT_QUEUED,
    EVENT_RESOURCES,
    EVENT_START,
)
from tests.support.job_scripts import by_seq, run_script
from tests.support.otlp_capture import OtlpCapture

WAITING_JOB = """
    import json, time
    from jobpulse.instrumentation import track_job

    with track_job("orders-import", job_type="csv_import", owner="data-team", queue="imports", priority=7,
                   queued=True) as job:
        entered = time.time_ns()
        time.sleep(0.3)  # waiting for a worker slot
        try:
            job.advance(0)
            job.start()
            job.start()
        except RuntimeError as error:
            second_start = str(error)
        job.advance(5)
    print(json.dumps({"id": job.id, "entered": entered, "second_start": second_start}))
"""


def records_of(capture: OtlpCapture, job_id: str) -> list[dict]:
    """The job's lifecycle records, in seq order (resources: a waiting job heartbeats too)."""
    return by_seq(
        [
            record
            for record in capture.logs
            if record["attributes"][ATTR_JOB_ID] == job_id and record["event_name"] != EVENT_RESOURCES
        ]
    )


def test_a_queued_job_is_announced_then_started_when_its_wait_is_over(capture: OtlpCapture) -> None:
    done = run_script(WAITING_JOB, capture.url)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["second_start"] == "start() starts a job tracked with queued=True, once"
    capture.wait_for(lambda c: c.events(EVENT_END, info["id"]))
    records = records_of(capture, info["id"])
    assert [record["event_name"] for record in records] == [EVENT_QUEUED, EVENT_START, EVENT_END]
    announced, start, end = (record["attributes"] for record in records)
    assert announced[ATTR_SEQ] == 1 < start[ATTR_SEQ]
    assert (announced[ATTR_QUEUE], announced[ATTR_PRIORITY]) == ("imports", 7)
    assert (announced[ATTR_JOB_NAME], announced[ATTR_JOB_TYPE], announced[ATTR_JOB_OWNER]) == (
        "orders-import",
        "csv_import",
        "data-team",
    )
    assert ATTR_PROCESSED not in announced, "an announcement carries no counts"
    assert start[ATTR_JOB_NAME] == "orders-import" and ATTR_QUEUE not in start
    assert records[1]["time_unix_nano"] - records[0]["time_unix_nano"] >= 300_000_000, "the wait is start - queued"
    assert records[0]["time_unix_nano"] <= info["entered"]
    assert (end[ATTR_STATUS], end[ATTR_PROCESSED]) == ("completed", 5)


SCHEDULED_JOB = """
    import json
    from datetime import datetime, timezone
    from jobpulse.instrumentation import track_job

    with track_job("nightly", queue="cron", queued_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) as job:
        job.advance(1)
    try:
        with track_job("naive", queued_at=datetime(2026, 1, 2, 3, 4, 5)):
            pass
    except ValueError as error:
        naive = str(error)
    print(json.dumps({"id": job.id, "naive": naive}))
"""


def test_a_job_queued_elsewhere_is_announced_at_its_queued_time_and_starts_at_once(capture: OtlpCapture) -> None:
    done = run_script(SCHEDULED_JOB, capture.url)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["naive"] == "queued_at must be an aware datetime (or seconds since the epoch)"
    capture.wait_for(lambda c: c.events(EVENT_END, info["id"]))
    records = records_of(capture, info["id"])
    assert [record["event_name"] for record in records] == [EVENT_QUEUED, EVENT_START, EVENT_END]
    assert records[0]["attributes"][ATTR_QUEUE] == "cron"
    assert records[0]["time_unix_nano"] == 1_767_323_045 * 10**9


GIVEN_UP_JOB = """
    import json
    from jobpulse.instrumentation import track_job

    try:
        with track_job("never-ran", queued=True) as job:
            raise KeyboardInterrupt  # stopped while it waited
    except KeyboardInterrupt:
        pass
    print(json.dumps({"id": job.id}))
"""


def test_a_job_stopped_in_its_queue_ends_without_starting(capture: OtlpCapture) -> None:
    done = run_script(GIVEN_UP_JOB, capture.url)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    capture.wait_for(lambda c: c.events(EVENT_END, info["id"]))
    records = records_of(capture, info["id"])
    assert [record["event_name"] for record in records] == [EVENT_QUEUED, EVENT_END]
    assert records[0]["attributes"][ATTR_QUEUE] == "default"
    assert records[1]["attributes"][ATTR_STATUS] == "cancelled"
    assert not capture.spans, "a job that never ran has no span"


JOINED_QUEUED_JOB = """
    from jobpulse import instrumentation

    with instrumentation.track_job("worker", queue="imports", queued=True) as job:
        job.start()
        job.advance(3)
    assert instrumentation.flush(5)
"""


def test_a_queued_job_in_a_process_started_for_a_job_joins_it_at_once(capture: OtlpCapture) -> None:
    done = run_script(JOINED_QUEUED_JOB, capture.url, JOBPULSE_JOB_ID="wrapper-job")
    assert done.returncode == 0, done.stderr
    kinds = {record["event_name"] for record in capture.logs if record["attributes"][ATTR_JOB_ID] == "wrapper-job"}
    assert kinds == {EVENT_PROGRESS}, "the wrapper queues and starts the job; the process reports its counts"
    final = max(capture.events(EVENT_PROGRESS, "wrapper-job"), key=lambda record: record["attributes"][ATTR_SEQ])
    assert final["attributes"][ATTR_PROCESSED] == 3
