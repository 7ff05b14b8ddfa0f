"""A Node.js job, written only from docs/conventions.md with the official OpenTelemetry JS packages,
shows up in a real sidecar exactly like a Python job (tests/node/job.mjs).

The job's own exit code also guards delivery: it exits 3 when an export failed or the sidecar
answered with an OTLP partial_success (rejected records).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobpulse.client import JobProgress, JobStatusUpdate
from jobpulse.client.jobs import StepInfo
from tests.conftest import require_binary
from tests.support.feed_watch import FeedWatch
from tests.support.otlp_capture import OtlpCapture
from tests.support.sidecar import SidecarProcess

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
JOB_SCRIPT = NODE_DIR / "job.mjs"
INSTALLED_MARKER = NODE_DIR / "node_modules" / ".package-lock.json"  # written last by npm ci

JOB_NAME = "node-orders-sync"
STEPS = ["extract_orders", "load_orders"]
TOTAL = 500
LIFECYCLE = {
    "jobpulse.job.start",
    "jobpulse.job.progress",
    "jobpulse.job.step",
    "jobpulse.job.resources",
    "jobpulse.job.end",
}


@dataclass
class JobRun:
    returncode: int
    stdout: str
    stderr: str
    pid: int
    seconds: float

    def report(self) -> dict[str, Any]:
        """The JSON line the job prints last on stdout."""
        return json.loads(self.stdout.strip().splitlines()[-1])

    def describe(self) -> str:
        return f"exit {self.returncode} after {self.seconds:.2f} s\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with tests/node's dependencies installed from its lockfile."""
    node = require_binary("node")
    if not INSTALLED_MARKER.exists():
        npm = require_binary("npm")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, (
            f"`npm ci` in {NODE_DIR} failed with exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return node


def run_job(node: str, endpoint: str, job_id: str, mode: str, timeout: float = 60.0) -> JobRun:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "JOBPULSE_", "JOB_"))}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    env["OTEL_SERVICE_NAME"] = "orders-sync-node"
    started = time.monotonic()
    process = subprocess.Popen(
        [node, str(JOB_SCRIPT), job_id, mode],
        cwd=NODE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"node job did not finish within {timeout} s:\n{stdout}\n{stderr}") from None
    return JobRun(process.returncode, stdout, stderr, process.pid, time.monotonic() - started)


def status_updates(reader: FeedWatch, job_id: str) -> list[str]:
    return [message.data.status for message in reader.of_job(job_id, JobStatusUpdate)]


def is_status(job_id: str, status: str):
    return lambda message: message.data.id == job_id and message.data.status == status


def assert_nothing_rejected(sidecar: SidecarProcess, records: int) -> None:
    ingest = sidecar.client.ingest()
    assert ingest.records_rejected == 0, ingest
    assert ingest.requests_rejected == 0, ingest
    assert ingest.records == ingest.records_applied == records, ingest
    assert ingest.spans_of_jobs == ingest.spans == 1 + len(STEPS), ingest


def test_complete_run_shows_up_like_a_python_job(node: str, sidecar: SidecarProcess) -> None:
    job_id = f"node-{uuid.uuid4()}"
    with FeedWatch(sidecar.url) as reader:
        run = run_job(node, sidecar.url, job_id, "complete")
        assert run.returncode == 0, run.describe()
        reader.wait_for(JobStatusUpdate, is_status(job_id, "completed"), timeout=10)
        statuses = status_updates(reader, job_id)
        progress = reader.of_job(job_id, JobProgress)
    assert "running" in statuses and statuses.index("running") < statuses.index("completed"), statuses
    assert any(message.data.processed > 0 for message in progress), "no live job_progress message"

    job = sidecar.client.wait_for_end(job_id, timeout=10)
    assert job.status == "completed"
    assert job.name == JOB_NAME
    assert job.job_type == "node_etl"
    assert job.owner == "data-platform"
    assert job.processed == job.total == TOTAL
    assert job.failed == 2 and job.successful == TOTAL - 2
    assert job.progress_percent == 100.0
    assert job.step_names == STEPS
    assert [step.name for step in job.steps] == STEPS
    for index, step in enumerate(job.steps):
        assert step.index == index and step.state == "completed", step
        assert step.duration_s is not None and step.duration_s > 0, step
    assert job.step == StepInfo(STEPS[-1], 1, 2)
    assert job.service == "orders-sync-node"
    assert job.host and job.pid == run.pid
    assert job.trace_id and len(job.trace_id) == 32
    assert job.memory_rss_bytes and job.memory_rss_bytes > 1_000_000
    assert job.cpu_percent is not None
    assert job.expected_duration_s == 2.5
    assert job.error is None
    assert job.log_counts["warning"] == 2 and job.log_counts["info"] == 1, job.log_counts
    levels = {line.message: line.level for line in job.recent_logs}
    assert levels["order 137 skipped: missing customer id"] == "warning"
    assert levels["fetched 500 orders from the source"] == "info"

    report = run.report()
    assert report["job_id"] == job_id and report["status"] == "completed"
    assert (report["processed"], report["failed"]) == (TOTAL, 2)
    assert_nothing_rejected(sidecar, report["records"])
    assert run.seconds < 15, run.describe()


def test_failed_run_reports_the_error_and_the_failing_step(node: str, sidecar: SidecarProcess) -> None:
    job_id = f"node-{uuid.uuid4()}"
    with FeedWatch(sidecar.url) as reader:
        run = run_job(node, sidecar.url, job_id, "fail")
        assert run.returncode == 1, run.describe()
        reader.wait_for(JobStatusUpdate, is_status(job_id, "failed"), timeout=10)
        statuses = status_updates(reader, job_id)
    assert "running" in statuses and statuses.index("running") < statuses.index("failed"), statuses

    job = sidecar.client.wait_for_end(job_id, timeout=10)
    assert job.status == "failed"
    assert job.name == JOB_NAME
    assert job.error.type == "UpstreamUnavailableError"
    assert job.error.message == "orders API returned HTTP 503 for order 300"
    assert job.error.step == "load_orders"
    assert "UpstreamUnavailableError" in job.error.stacktrace and "job.mjs" in job.error.stacktrace
    assert job.processed == 299 and job.total == TOTAL and job.progress_percent < 100
    extract, load = job.steps
    assert extract.state == "completed" and load.state == "failed", job.steps
    assert load.duration_s is not None and load.duration_s > 0
    assert job.trace_id and job.pid == run.pid

    report = run.report()
    assert report["status"] == "failed"
    assert_nothing_rejected(sidecar, report["records"])


def test_wire_format_follows_the_conventions(node: str) -> None:
    """What the JS SDK actually puts on the wire: event_name field, intValue integers, seq, coalescing."""
    job_id = f"node-{uuid.uuid4()}"
    with OtlpCapture() as capture:
        run = run_job(node, capture.url, job_id, "complete")
        assert run.returncode == 0, run.describe()
        records = capture.wait_for(lambda c: len(c.logs) >= run.report()["records"] and c.logs, timeout=5)
        spans = list(capture.spans)

    records = sorted(records, key=lambda record: record["time_unix_nano"])
    seqs = [record["attributes"]["jobpulse.seq"] for record in records]
    assert seqs == list(range(1, len(records) + 1)), seqs
    assert all(type(seq) is int for seq in seqs)  # int_value on the wire, not double_value

    for record in records:
        assert record["attributes"]["jobpulse.job.id"] == job_id
        assert "event.name" not in record["attributes"], "the SDK has LogRecord.event_name; use it"
        assert record["event_name"] in LIFECYCLE or record["event_name"] == ""
        assert record["trace_id"] and record["span_id"], record
        assert record["time_unix_nano"] > 0
        resource = record["resource"]
        assert resource["service.name"] == "orders-sync-node"
        assert resource["host.name"] and resource["process.pid"] == run.pid
    assert records[0]["event_name"] == "jobpulse.job.start"
    assert records[-1]["event_name"] == "jobpulse.job.end"

    start = records[0]["attributes"]
    assert start["jobpulse.job.step.names"] == STEPS
    for key in ("jobpulse.job.total", "jobpulse.job.step.count", "jobpulse.job.heartbeat_interval_s"):
        assert type(start[key]) is int, key

    progress = [record for record in records if record["event_name"] == "jobpulse.job.progress"]
    assert len(progress) >= 3
    processed = [record["attributes"]["jobpulse.job.processed"] for record in progress]
    assert processed == sorted(processed) and all(type(value) is int for value in processed)
    gaps_ms = [(b["time_unix_nano"] - a["time_unix_nano"]) / 1e6 for a, b in itertools.pairwise(progress)]
    assert min(gaps_ms) >= 25, gaps_ms
    assert len(progress) < TOTAL / 10, "progress must be coalesced, not sent per record"

    resources = [record["attributes"] for record in records if record["event_name"] == "jobpulse.job.resources"]
    assert resources and all(type(sample["process.memory.usage"]) is int for sample in resources)
    steps = [record["attributes"] for record in records if record["event_name"] == "jobpulse.job.step"]
    assert [(step["jobpulse.job.step"], step["jobpulse.job.step.state"]) for step in steps] == [
        (STEPS[0], "started"),
        (STEPS[0], "completed"),
        (STEPS[1], "started"),
        (STEPS[1], "completed"),
    ]
    lines = [record for record in records if record["event_name"] == ""]
    assert {(line["severity_number"], line["severity_text"]) for line in lines} == {(9, "INFO"), (13, "WARNING")}

    root = [span for span in spans if span["name"] == JOB_NAME]
    assert len(root) == 1 and root[0]["attributes"]["jobpulse.job.id"] == job_id
    children = [span["name"] for span in spans if span["parent_span_id"] == root[0]["span_id"]]
    assert sorted(children) == sorted(STEPS)
    assert {record["trace_id"] for record in records} == {root[0]["trace_id"]}
