"""What ``jobpulse run`` sends, on the wire (docs/conventions.md): its job's start, lines and end."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from jobpulse.conventions import (
    ATTR_EXPECTED_DURATION,
    ATTR_HEARTBEAT_INTERVAL,
    ATTR_JOB_ID,
    ATTR_JOB_NAME,
    ATTR_JOB_OWNER,
    ATTR_JOB_TYPE,
    ATTR_PROCESSED,
    ATTR_SCHEDULE_CRON,
    ATTR_SCHEDULE_EVERY,
    ATTR_SCHEDULE_GRACE,
    ATTR_SCHEDULE_TIMEZONE,
    ATTR_SEQ,
    ATTR_STATUS,
    ATTR_TOTAL,
    EVENT_END,
    EVENT_START,
)
from jobpulse.instrumentation.joining import OWNER_END_SEQ
from tests.run.wrapper import run, script
from tests.support.otlp_capture import OtlpCapture

ENVIRONMENT = """
    import os
    print(os.environ["JOBPULSE_JOB_ID"], os.environ["TRACEPARENT"])
"""


def test_the_start_names_the_job_and_the_end_comes_last_without_counts_it_never_saw(
    capture: OtlpCapture, tmp_path: Path
) -> None:
    arguments = ["--name", "nightly", "--type", "shell", "--owner", "ops", "--expected-duration", "2m"]
    done = run([*arguments, "--", sys.executable, script(tmp_path, ENVIRONMENT)], capture.url)
    assert done.returncode == 0, done.stderr
    job_id, traceparent = done.stdout.decode().split()
    [start] = capture.events(EVENT_START, job_id)
    assert start["attributes"] | {ATTR_HEARTBEAT_INTERVAL: None} == {
        ATTR_JOB_ID: job_id,
        ATTR_SEQ: 1,
        ATTR_PROCESSED: 0,
        ATTR_JOB_NAME: "nightly",
        ATTR_JOB_TYPE: "shell",
        ATTR_JOB_OWNER: "ops",
        ATTR_EXPECTED_DURATION: 120.0,
        ATTR_HEARTBEAT_INTERVAL: None,
        "jobpulse.job.failed": 0,
        "process.command": sys.executable,
    }
    [end] = capture.events(EVENT_END, job_id)
    # Above the seqs of a process that joined the job, and leaving the counts to that process.
    assert end["attributes"][ATTR_SEQ] == OWNER_END_SEQ
    assert end["attributes"][ATTR_STATUS] == "completed"
    assert ATTR_PROCESSED not in end["attributes"] and ATTR_TOTAL not in end["attributes"]
    [span] = [span for span in capture.spans if span["attributes"].get(ATTR_JOB_ID) == job_id]
    assert traceparent == f"00-{span['trace_id']}-{span['span_id']}-{traceparent[-2:]}"


def test_the_start_says_when_the_job_runs(capture: OtlpCapture) -> None:
    cron = ["--schedule", "*/5 * * * *", "--grace", "10m", "--schedule-timezone", "Europe/Berlin"]
    every = ["--schedule", "1h30m"]
    for arguments in (cron, every):
        done = run([*arguments, "--", "true"], capture.url)
        assert done.returncode == 0, done.stderr
    first, second = capture.events(EVENT_START)
    schedule_keys = (ATTR_SCHEDULE_CRON, ATTR_SCHEDULE_EVERY, ATTR_SCHEDULE_TIMEZONE, ATTR_SCHEDULE_GRACE)
    said = [
        {key: start["attributes"][key] for key in schedule_keys if key in start["attributes"]}
        for start in (first, second)
    ]
    assert said == [
        {ATTR_SCHEDULE_CRON: "*/5 * * * *", ATTR_SCHEDULE_TIMEZONE: "Europe/Berlin", ATTR_SCHEDULE_GRACE: 600.0},
        {ATTR_SCHEDULE_EVERY: 5400.0, ATTR_SCHEDULE_TIMEZONE: "UTC"},
    ]


def test_the_end_carries_the_counts_the_output_showed(capture: OtlpCapture) -> None:
    done = run(["--", "sh", "-c", "echo '[7/9] loaded'"], capture.url)
    assert done.returncode == 0, done.stderr
    [end] = capture.events(EVENT_END)
    assert (end["attributes"][ATTR_PROCESSED], end["attributes"][ATTR_TOTAL]) == (7, 9)


FLOOD = """
    import sys
    sys.stdout.writelines(f"row {n} loaded\\n" for n in range(30_000))
    print("ERROR: the last line", flush=True)
"""


def test_a_flood_of_lines_reaches_the_terminal_whole_and_the_log_in_part_saying_so(
    capture: OtlpCapture, tmp_path: Path
) -> None:
    done = run(["--", sys.executable, script(tmp_path, FLOOD)], capture.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == [f"row {n} loaded" for n in range(30_000)] + ["ERROR: the last line"]
    lines = sorted(capture.lines(), key=lambda record: record["attributes"][ATTR_SEQ])
    recorded = [line["body"] for line in lines if line["body"].startswith("row ")]
    assert 10_000 <= len(recorded) < 30_000, "a burst of 10,000, then 1,000 a second"
    assert recorded == sorted(recorded, key=lambda body: int(body.split()[1])), "in order"
    notices = [line for line in lines if line["body"].startswith("jobpulse run: the job's log leaves out")]
    assert notices and {notice["severity_text"] for notice in notices} == {"WARNING"}
    # Every line left out is counted (the whole output is within what the sink may queue: no bytes
    # are skipped), but for the last ones, held back and sent at the end.
    left_out = [re.search(r"leaves out (\d+) lines beyond 1000 a second", notice["body"]) for notice in notices]
    assert len(recorded) + sum(int(match.group(1)) for match in left_out) + 1 == 30_001
    assert (lines[-1]["body"], lines[-1]["severity_text"]) == ("ERROR: the last line", "ERROR")
