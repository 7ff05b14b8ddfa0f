"""Delivery: flush at exit, a sidecar that is down, one that comes back, requests that fail."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from typing import IO

from jobpulse.conventions import (
    ATTR_JOB_ID,
    ATTR_SEQ,
    ATTR_STATUS,
    EVENT_END,
    EVENT_START,
    EVENT_STEP,
)
from tests.support.job_scripts import run_script, start_script
from tests.support.otlp_capture import OtlpCapture
from tests.support.ports import free_port


def test_a_short_script_delivers_everything_at_exit_without_flushing(capture: OtlpCapture) -> None:
    started = time.monotonic()
    done = run_script(
        """
        from jobpulse.instrumentation import track_job
        with track_job("short") as job:
            with job.step("only"):
                job.log("one line")
        """,
        capture.url,
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 5
    # Everything is there by the time the process has exited: no waiting.
    assert [event["event_name"] for event in capture.events()].count(EVENT_END) == 1
    assert [line["body"] for line in capture.lines()] == ["one line"]
    assert sorted(span["name"] for span in capture.spans) == ["only", "short"]


def run_without_sidecar(script: str) -> tuple[subprocess.CompletedProcess[str], str, float]:
    """Run `script` against a port where nothing listens; return its outcome, the endpoint, the seconds it took."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    done = run_script(script, endpoint)
    return done, endpoint, time.monotonic() - started


BUSY_JOB = """
    import json, logging, time
    from jobpulse.instrumentation import track_job

    started = time.monotonic()
    with track_job("no-sidecar", total=1000) as job:
        for i in range(10):
            with job.step(f"step-{i}"):
                for _ in job.iter(range(100)):
                    pass
                logging.getLogger("etl").info("step %d done", i)
    print(json.dumps({"job_seconds": time.monotonic() - started, "processed": job.processed}))
"""


def test_without_a_sidecar_the_job_completes_with_one_warning_and_one_line_at_exit() -> None:
    done, endpoint, wall = run_without_sidecar(BUSY_JOB)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["processed"] == 1000
    assert result["job_seconds"] < 0.5  # the job itself never waited on the network
    assert wall < 10
    warnings = done.stderr.splitlines()
    assert len(warnings) == 2, done.stderr
    assert f"{endpoint}/v1/logs" in warnings[0]
    assert "exiting without delivering" in warnings[1]  # what it could not deliver is said, not hidden
    assert "Traceback" not in done.stderr


UNDELIVERED_JOB = """
    from jobpulse.instrumentation import track_job

    with track_job("unheard", steps=["only"]) as job:
        with job.step("only"):
            job.log("nobody reads this")
            job.advance(3)
"""


def test_without_a_sidecar_the_job_exits_promptly_and_says_what_it_dropped() -> None:
    done, endpoint, wall = run_without_sidecar(UNDELIVERED_JOB)
    assert done.returncode == 0, done.stderr
    # Interpreter start-up and imports take about a third of this; the exit must not wait on the network.
    assert wall < 1.0, f"the job took {wall:.2f} s to exit"
    warnings = done.stderr.splitlines()
    assert len(warnings) == 2, done.stderr
    assert "cannot deliver" in warnings[0]
    # Start, step started, the log line, step completed, end; the job's span and the step's.
    assert f"exiting without delivering 5 job records and 2 spans to {endpoint}/v1/logs" in warnings[1]
    assert "the last export failed" in warnings[1]


RETURNING_SIDECAR_JOB = """
    import logging, sys
    from jobpulse.instrumentation import track_job

    reporting = logging.getLogger("jobpulse.instrumentation")
    reporting.addHandler(logging.StreamHandler())
    reporting.setLevel(logging.INFO)

    with track_job("patient", steps=["wait"]) as job:
        with job.step("wait"):
            job.log("buffered line")
            print("started", job.id, flush=True)
            sys.stdin.readline()  # keep running until the test says so
            job.advance(5)
"""


def _lines(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in stream], daemon=True).start()
    return lines


def _next_containing(lines: queue.Queue[str], words: str, timeout: float = 10) -> str:
    """The next line containing ``words`` (other lines, such as the control channel's, are skipped)."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        line = lines.get(timeout=remaining)
        if words in line:
            return line
    raise AssertionError(f"no line with {words!r} within {timeout} s")


def test_records_buffered_while_the_sidecar_is_down_are_delivered_when_it_comes_back() -> None:
    port = free_port()
    job = start_script(RETURNING_SIDECAR_JOB, f"http://127.0.0.1:{port}")
    try:
        stdout, stderr = _lines(job.stdout), _lines(job.stderr)  # type: ignore[arg-type]
        job_id = stdout.get(timeout=10).split()[1]
        _next_containing(stderr, "cannot deliver")  # the job is running and the sidecar is down

        with OtlpCapture(port) as capture:
            capture.wait_for(
                lambda c: c.events(EVENT_START) and len(c.events(EVENT_STEP)) == 1 and c.lines(), timeout=10
            )
            assert all(record["attributes"][ATTR_JOB_ID] == job_id for record in capture.logs)
            assert job.poll() is None  # delivered while the job still runs
            _next_containing(stderr, "recovered")

            job.stdin.write("\n")  # type: ignore[union-attr]
            job.stdin.flush()  # type: ignore[union-attr]
            assert job.wait(timeout=10) == 0
            assert capture.events(EVENT_END)[0]["attributes"][ATTR_STATUS] == "completed"
        seqs = [record["attributes"][ATTR_SEQ] for record in capture.logs]
        assert len(seqs) == len(set(seqs))
    finally:
        job.kill()
        job.wait()


def test_failed_requests_are_retried_without_losing_lifecycle_records_or_lines(capture: OtlpCapture) -> None:
    capture.fail_next(2, status=500)
    done = run_script(
        """
        from jobpulse.instrumentation import flush, track_job
        with track_job("retried", steps=["a", "b"]) as job:
            for name in ("a", "b"):
                with job.step(name):
                    job.log(f"in {name}")
                    job.advance(10)
        print(flush(timeout=10))
        """,
        capture.url,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert [status for _, status in capture.requests[:2]] == [500, 500]
    assert len(done.stderr.splitlines()) == 1  # one warning for the outage
    lines = sorted(capture.lines(), key=lambda record: record["attributes"][ATTR_SEQ])
    assert [line["body"] for line in lines] == ["in a", "in b"]
    assert len(capture.events(EVENT_START)) == 1
    assert len(capture.events(EVENT_STEP)) == 4
    assert len(capture.events(EVENT_END)) == 1


def test_log_lines_beyond_the_buffer_are_dropped_oldest_first_and_configure_wins_over_env(
    capture: OtlpCapture,
) -> None:
    capture.fail_next(1, status=500)
    done = run_script(
        f"""
        from jobpulse.instrumentation import configure, flush, track_job
        configure(endpoint={capture.url!r}, buffer_size=10)
        with track_job("chatty") as job:
            for i in range(50):
                job.log(f"line {{i}}")
        try:
            configure(buffer_size=20)
        except RuntimeError:
            print("too late to configure")
        print(flush(timeout=10))
        """,
        endpoint=f"http://127.0.0.1:{free_port()}",  # overridden by configure(endpoint=...)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["too late to configure", "True"]
    warnings = sorted(done.stderr.splitlines())
    assert len(warnings) == 2, done.stderr
    assert "cannot deliver" in warnings[0] and "dropping older ones" in warnings[1]
    lines = sorted(capture.lines(), key=lambda record: record["attributes"][ATTR_SEQ])
    assert [line["body"] for line in lines] == [f"line {i}" for i in range(40, 50)]
    assert len(capture.events(EVENT_START)) == 1
    assert len(capture.events(EVENT_END)) == 1
