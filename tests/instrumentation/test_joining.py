"""A process started for a job (by ``jobpulse run``) reports into that job: no start, no end, its own seqs."""

from __future__ import annotations

import json

from jobpulse.conventions import (
    ATTR_JOB_ID,
    ATTR_PROCESSED,
    ATTR_SEQ,
    ATTR_TOTAL,
    EVENT_END,
    EVENT_PROGRESS,
    EVENT_RESOURCES,
    EVENT_START,
    EVENT_STEP,
)
from jobpulse.instrumentation.joining import JOINED_SEQ_BASE, OWNER_END_SEQ
from tests.support.job_scripts import run_script
from tests.support.otlp_capture import OtlpCapture

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN}-01"

JOINER = """
    import json, os
    from jobpulse import instrumentation
    instrumentation.configure(resources_interval=0.05)
    try:
        with instrumentation.track_job("joiner", total=30, steps=["copy"]) as job:
            with job.step("copy"):
                for _ in job.iter(range(30)):
                    pass
            job.log("from inside")
            raise ValueError("row 30 is malformed")
    except ValueError:
        pass
    left = [name for name in ("JOBPULSE_JOB_ID", "TRACEPARENT") if name in os.environ]
    with instrumentation.track_job("afterwards") as own:
        pass
    assert instrumentation.flush(5)
    print(json.dumps({"joined": job.id, "own": own.id, "left": left, "pid": os.getpid()}))
"""


def test_the_first_job_of_a_started_process_joins_the_job_it_was_started_for(capture: OtlpCapture) -> None:
    done = run_script(JOINER, capture.url, JOBPULSE_JOB_ID="wrapper-job", TRACEPARENT=TRACEPARENT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["joined"] == "wrapper-job"
    assert result["own"] != "wrapper-job", "later runs are jobs of their own"
    assert result["left"] == [], "processes it starts from then on are not told to join"

    records = [record for record in capture.logs if record["attributes"][ATTR_JOB_ID] == "wrapper-job"]
    kinds = [record["event_name"] for record in records]
    assert EVENT_START not in kinds and EVENT_END not in kinds, "the wrapper sends the start and the end"
    assert EVENT_RESOURCES not in kinds, "the wrapper sends the heartbeat, of the whole process tree"
    assert EVENT_STEP in kinds
    seqs = [record["attributes"][ATTR_SEQ] for record in records]
    first = JOINED_SEQ_BASE + ((result["pid"] & (2**22 - 1)) << 32)
    assert sorted(seqs) == list(range(first, first + len(seqs))), "a block of its own, from its start"
    assert max(seqs) < OWNER_END_SEQ
    final = max((r for r in records if r["event_name"] == EVENT_PROGRESS), key=lambda r: r["attributes"][ATTR_SEQ])
    assert (final["attributes"][ATTR_PROCESSED], final["attributes"][ATTR_TOTAL]) == (30, 30)
    assert [(r["body"], r["severity_text"]) for r in records if not r["event_name"]] == [
        ("from inside", "INFO"),
        ("ValueError: row 30 is malformed", "ERROR"),
    ]
    assert all(record["trace_id"] == TRACE_ID for record in records)

    [span] = [span for span in capture.spans if span["name"] == "joiner"]
    assert (span["trace_id"], span["parent_span_id"]) == (TRACE_ID, PARENT_SPAN)

    own_kinds = [record["event_name"] for record in capture.events(job_id=result["own"])]
    assert own_kinds[0] == EVENT_START and own_kinds[-1] == EVENT_END


def test_a_job_given_its_own_id_does_not_join(capture: OtlpCapture) -> None:
    done = run_script(
        """
        from jobpulse import instrumentation
        with instrumentation.track_job("explicit", job_id="explicit-id"):
            pass
        assert instrumentation.flush(5)
        """,
        capture.url,
        JOBPULSE_JOB_ID="wrapper-job",
    )
    assert done.returncode == 0, done.stderr
    assert {record["attributes"][ATTR_JOB_ID] for record in capture.logs} == {"explicit-id"}
    assert next(record["event_name"] for record in capture.events()) == EVENT_START
