"""A job's records on the wire: start, progress, steps, end, seq and counts, as docs/conventions.md says."""

from __future__ import annotations

import itertools
import json

from jobpulse.conventions import (
    ATTR_EXCEPTION_MESSAGE,
    ATTR_EXCEPTION_STACKTRACE,
    ATTR_EXCEPTION_TYPE,
    ATTR_EXPECTED_DURATION,
    ATTR_FAILED,
    ATTR_HEARTBEAT_INTERVAL,
    ATTR_JOB_ID,
    ATTR_JOB_NAME,
    ATTR_JOB_OWNER,
    ATTR_JOB_TYPE,
    ATTR_PROCESSED,
    ATTR_SEQ,
    ATTR_STATUS,
    ATTR_STEP,
    ATTR_STEP_COUNT,
    ATTR_STEP_DURATION,
    ATTR_STEP_INDEX,
    ATTR_STEP_NAMES,
    ATTR_STEP_STATE,
    ATTR_TOTAL,
    EVENT_END,
    EVENT_PROGRESS,
    EVENT_START,
    EVENT_STEP,
    RESOURCE_HOST_NAME,
    RESOURCE_PROCESS_PID,
    RESOURCE_SERVICE_NAME,
)
from tests.support.job_scripts import by_seq, run_script
from tests.support.otlp_capture import OtlpCapture

SEVERITY_INFO = 9
SEVERITY_ERROR = 17

HAPPY_JOB = """
    import json, os, time
    from datetime import timedelta
    from jobpulse.instrumentation import track_job

    with track_job(
        "orders-import", job_type="csv_import", owner="data-team", expected_duration=timedelta(minutes=2),
        steps=["extract", "load"], attributes={"source": "s3://bucket/orders.csv"},
    ) as job:
        with job.step("extract"):
            for row in job.iter(range(50)):
                time.sleep(0.002)  # the job's own work: long enough for progress ticks
        job.set_total(80)
        with job.step("load"):
            job.advance(20)
            job.advance(10, failed=3)
        with job.step("cleanup"):
            pass
    print(json.dumps({"id": job.id, "pid": os.getpid()}))
"""


def test_job_emits_start_progress_steps_and_end_with_increasing_seq(capture: OtlpCapture) -> None:
    done = run_script(HAPPY_JOB, capture.url, JOBPULSE_PROGRESS_INTERVAL="0.01")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    info = json.loads(done.stdout)
    capture.wait_for(lambda c: c.events(EVENT_END))

    records = by_seq([record for record in capture.logs if record["attributes"][ATTR_JOB_ID] == info["id"]])
    seqs = [record["attributes"][ATTR_SEQ] for record in records]
    assert seqs[0] == 1
    assert all(a < b for a, b in itertools.pairwise(seqs)), seqs
    assert records[0]["event_name"] == EVENT_START
    assert records[-1]["event_name"] == EVENT_END

    start = records[0]["attributes"]
    assert start[ATTR_JOB_NAME] == "orders-import"
    assert start[ATTR_JOB_TYPE] == "csv_import"
    assert start[ATTR_JOB_OWNER] == "data-team"
    assert start[ATTR_EXPECTED_DURATION] == 120.0
    assert start[ATTR_HEARTBEAT_INTERVAL] == 5.0
    assert start[ATTR_STEP_NAMES] == ["extract", "load"]
    assert start["source"] == "s3://bucket/orders.csv"
    assert (start[ATTR_PROCESSED], start[ATTR_FAILED]) == (0, 0)
    assert ATTR_TOTAL not in start

    # Counts are absolute, so along the seq order they never go down.
    counted = [r["attributes"] for r in records if ATTR_PROCESSED in r["attributes"]]
    processed = [a[ATTR_PROCESSED] for a in counted]
    assert processed == sorted(processed)
    progress = [r["attributes"] for r in records if r["event_name"] == EVENT_PROGRESS]
    assert progress, "a 100 ms job with 10 ms ticks reports progress"
    assert any(p.get(ATTR_STEP) == "extract" and p[ATTR_TOTAL] == 50 for p in progress)

    steps = [r["attributes"] for r in records if r["event_name"] == EVENT_STEP]
    assert [(s[ATTR_STEP], s[ATTR_STEP_STATE]) for s in steps] == [
        ("extract", "started"),
        ("extract", "completed"),
        ("load", "started"),
        ("load", "completed"),
        ("cleanup", "started"),
        ("cleanup", "completed"),
    ]
    assert [s.get(ATTR_STEP_INDEX) for s in steps] == [0, 0, 1, 1, None, None]
    assert all(s[ATTR_STEP_COUNT] == 2 for s in steps)
    assert steps[1][ATTR_STEP_DURATION] >= 0.1
    assert ATTR_STEP_DURATION not in steps[0]
    assert steps[1][ATTR_PROCESSED] == 50
    assert steps[3][ATTR_PROCESSED] == 80 and steps[3][ATTR_FAILED] == 3

    end = records[-1]
    assert end["severity_number"] == SEVERITY_INFO
    assert end["attributes"][ATTR_STATUS] == "completed"
    assert (end["attributes"][ATTR_PROCESSED], end["attributes"][ATTR_FAILED], end["attributes"][ATTR_TOTAL]) == (
        80,
        3,
        80,
    )

    resource = end["resource"]
    assert resource[RESOURCE_PROCESS_PID] == info["pid"]
    assert resource[RESOURCE_HOST_NAME]
    assert resource[RESOURCE_SERVICE_NAME].startswith("unknown_service")  # python -c has no script name


FAILING_JOB = """
    from jobpulse.instrumentation import track_job

    class BadRecord(Exception):
        pass

    with track_job("failing", steps=["parse"]) as job:
        job.advance(3)
        with job.step("parse"):
            raise BadRecord("row 4 has no id")
"""


def test_unhandled_exception_ends_failed_with_exception_attributes_and_propagates(capture: OtlpCapture) -> None:
    done = run_script(FAILING_JOB, capture.url)
    assert done.returncode == 1
    assert "BadRecord: row 4 has no id" in done.stderr  # re-raised to the interpreter
    end = capture.wait_for(lambda c: c.events(EVENT_END))[0]
    attributes = end["attributes"]
    assert attributes[ATTR_STATUS] == "failed"
    assert attributes[ATTR_EXCEPTION_TYPE] == "__main__.BadRecord"
    assert attributes[ATTR_EXCEPTION_MESSAGE] == "row 4 has no id"
    assert attributes[ATTR_EXCEPTION_STACKTRACE].startswith("Traceback (most recent call last)")
    assert attributes[ATTR_STEP] == "parse"
    assert attributes[ATTR_PROCESSED] == 3
    assert end["severity_number"] == SEVERITY_ERROR

    step_end = [e for e in capture.events(EVENT_STEP) if e["attributes"][ATTR_STEP_STATE] != "started"]
    assert [e["attributes"][ATTR_STEP_STATE] for e in step_end] == ["failed"]
    assert step_end[0]["attributes"][ATTR_STEP_DURATION] >= 0

    spans = capture.wait_for(lambda c: len(c.spans) == 2 and c.spans)
    for span in spans:
        assert span["status_code"] == 2  # STATUS_CODE_ERROR
        assert span["events"][0][0] == "exception"
        assert span["events"][0][1]["exception.type"] == "__main__.BadRecord"


CANCELLED_JOBS = """
    from jobpulse.instrumentation import JobCancelled, track_job

    try:
        with track_job("cancelled-by-code") as job:
            job.advance(2)
            raise JobCancelled("operator asked")
    except JobCancelled:
        print("JobCancelled propagated")

    try:
        with track_job("interrupted") as job:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        print("KeyboardInterrupt propagated")

    def cancel():
        raise JobCancelled("at checkpoint")

    try:
        with track_job("cancelled-at-checkpoint") as job:
            for _ in job.iter(range(10)):
                if job.processed == 3:
                    job._arm_checkpoint(cancel)
    except JobCancelled:
        print("checkpoint cancelled at", job.processed)

    try:
        with track_job("cancelled-in-advance") as job:
            job.advance()
            job._arm_checkpoint(cancel)
            job.advance()
            job.advance()  # not reached
    except JobCancelled:
        print("advance cancelled at", job.processed)
"""


def test_cancellation_ends_cancelled_and_propagates(capture: OtlpCapture) -> None:
    done = run_script(CANCELLED_JOBS, capture.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "JobCancelled propagated",
        "KeyboardInterrupt propagated",
        "checkpoint cancelled at 4",
        "advance cancelled at 2",
    ]
    ends = capture.wait_for(lambda c: len(c.events(EVENT_END)) == 4 and c.events(EVENT_END))
    statuses = {e["attributes"][ATTR_JOB_ID]: e["attributes"][ATTR_STATUS] for e in ends}
    assert set(statuses.values()) == {"cancelled"}
    assert all(ATTR_EXCEPTION_TYPE not in e["attributes"] for e in ends)
    assert all(e["severity_number"] == SEVERITY_INFO for e in ends)


DECORATED_JOBS = """
    import asyncio, json
    from jobpulse.instrumentation import current_job, track_job

    @track_job("decorated", job_type="sync")
    def work(n):
        current_job().advance(n)
        return current_job().id

    @track_job("decorated-async", job_type="async")
    async def work_async(n):
        await asyncio.sleep(0)
        current_job().advance(n)
        return current_job().id

    async def main():
        async with track_job("async-with") as job:
            job.advance(7)
        return job.id

    ids = [work(1), work(2), asyncio.run(work_async(3)), asyncio.run(main())]
    assert current_job() is None
    print(json.dumps(ids))
"""


def test_decorator_makes_a_run_per_call_and_async_works(capture: OtlpCapture) -> None:
    done = run_script(DECORATED_JOBS, capture.url)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout)
    assert len(set(ids)) == 4
    ends = capture.wait_for(lambda c: len(c.events(EVENT_END)) == 4 and c.events(EVENT_END))
    processed = {e["attributes"][ATTR_JOB_ID]: e["attributes"][ATTR_PROCESSED] for e in ends}
    assert [processed[job_id] for job_id in ids] == [1, 2, 3, 7]
    names = {e["attributes"][ATTR_JOB_ID]: e["attributes"][ATTR_JOB_NAME] for e in capture.events(EVENT_START)}
    assert [names[job_id] for job_id in ids] == ["decorated", "decorated", "decorated-async", "async-with"]


def test_service_name_defaults_to_the_script_name(capture: OtlpCapture, tmp_path) -> None:
    script = tmp_path / "nightly_orders.py"
    script.write_text("from jobpulse.instrumentation import track_job\nwith track_job('x'):\n    pass\n")
    done = run_script(f"import runpy, sys; sys.argv = [{str(script)!r}]; runpy.run_path(sys.argv[0])", capture.url)
    assert done.returncode == 0, done.stderr
    start = capture.wait_for(lambda c: c.events(EVENT_START))[0]
    assert start["resource"][RESOURCE_SERVICE_NAME] == "nightly_orders"

    done = run_script(
        "from jobpulse.instrumentation import track_job\nwith track_job('y'): pass",
        capture.url,
        OTEL_SERVICE_NAME="billing",
    )
    assert done.returncode == 0, done.stderr
    ends = capture.wait_for(lambda c: len(c.events(EVENT_START)) == 2 and c.events(EVENT_START))
    assert ends[1]["resource"][RESOURCE_SERVICE_NAME] == "billing"


def test_a_job_id_the_sidecar_would_refuse_is_refused_where_the_job_is_made(capture: OtlpCapture) -> None:
    done = run_script(
        """
        import json
        from jobpulse.instrumentation import track_job

        refused = []
        for job_id in ("x" * 201, "orders\\x00import"):
            try:
                with track_job("refused", job_id=job_id):
                    pass
            except ValueError as error:
                refused.append(str(error))
        print(json.dumps(refused))
        """,
        capture.url,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        "job_id is longer than 200 characters",
        "job_id must not contain a NUL character (the sidecar refuses such an id)",
    ]
    # The script has exited, so its exit flush is over: nothing was sent for either id.
    assert not [event for job_id in ("x" * 201, "orders\x00import") for event in capture.events(job_id=job_id)]
