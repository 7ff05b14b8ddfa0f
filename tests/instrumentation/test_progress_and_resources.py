"""Progress is coalesced by the pulse; resources samples double as heartbeats."""

from __future__ import annotations

from jobpulse.conventions import (
    ATTR_CPU_UTILIZATION,
    ATTR_FAILED,
    ATTR_HEARTBEAT_INTERVAL,
    ATTR_MEMORY_RSS,
    ATTR_MEMORY_VIRTUAL,
    ATTR_OPEN_FDS,
    ATTR_PROCESSED,
    ATTR_SEQ,
    ATTR_THREAD_COUNT,
    EVENT_END,
    EVENT_PROGRESS,
    EVENT_RESOURCES,
    EVENT_START,
)
from tests.support.job_scripts import by_seq, run_script
from tests.support.otlp_capture import OtlpCapture

TIGHT_LOOP = """
    from jobpulse.instrumentation import track_job

    with track_job("tight-loop", total=1_000_000) as job:
        for i in range(1_000_000):
            job.advance(1, i % 1000 == 0)
"""


def test_a_million_advances_are_coalesced_into_few_progress_records(capture: OtlpCapture) -> None:
    done = run_script(TIGHT_LOOP, capture.url)
    assert done.returncode == 0, done.stderr
    end = capture.wait_for(lambda c: c.events(EVENT_END))[0]
    assert (end["attributes"][ATTR_PROCESSED], end["attributes"][ATTR_FAILED]) == (1_000_000, 1000)

    progress = by_seq(capture.events(EVENT_PROGRESS))
    # The loop takes a fraction of a second; ticks are 25 ms apart.
    assert len(progress) < 200
    counts = [record["attributes"][ATTR_PROCESSED] for record in progress]
    assert counts == sorted(counts)
    assert all(record["attributes"][ATTR_SEQ] < end["attributes"][ATTR_SEQ] for record in progress)


BUSY_JOB = """
    import hashlib, time
    from jobpulse.instrumentation import track_job

    data = bytes(1_000_000)
    with track_job("busy") as job:
        deadline = time.monotonic() + 0.35
        while time.monotonic() < deadline:  # the job's own work, burning CPU in C
            hashlib.sha256(data).digest()
            job.advance()
"""


def test_resources_records_carry_process_usage(capture: OtlpCapture) -> None:
    done = run_script(BUSY_JOB, capture.url, JOBPULSE_RESOURCES_INTERVAL="0.1")
    assert done.returncode == 0, done.stderr
    capture.wait_for(lambda c: c.events(EVENT_END))
    assert capture.events(EVENT_START)[0]["attributes"][ATTR_HEARTBEAT_INTERVAL] == 0.1

    samples = [record["attributes"] for record in by_seq(capture.events(EVENT_RESOURCES))]
    assert len(samples) >= 3  # one at start, then one per interval
    for sample in samples:
        assert sample[ATTR_MEMORY_RSS] > 10_000_000
        assert sample[ATTR_MEMORY_VIRTUAL] >= sample[ATTR_MEMORY_RSS]
        assert sample[ATTR_THREAD_COUNT] >= 2  # the job's thread and the delivery thread
        assert sample[ATTR_OPEN_FDS] >= 3
        assert isinstance(sample[ATTR_CPU_UTILIZATION], float)
    # A busy loop keeps about one core busy between samples.
    assert max(sample[ATTR_CPU_UTILIZATION] for sample in samples[1:]) > 0.3
