"""Prometheus metrics of jobs: the registry, `serve_metrics` scraped over HTTP, `push_metrics` to a Pushgateway."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import require_binary
from tests.support.job_scripts import run_script, start_script
from tests.support.otlp_capture import OtlpCapture
from tests.support.polling import wait_for
from tests.support.ports import free_port

PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_registry_counts_records_steps_and_runs(capture: OtlpCapture) -> None:
    done = run_script(
        """
        import json
        from jobpulse.instrumentation import registry, track_job

        def value(name, **labels):
            return registry.get_sample_value(name, labels)

        with track_job("orders", job_type="csv") as job:
            with job.step("load"):
                job.advance(10, failed=2)
            running = value("jobpulse_jobs_running", job_name="orders", job_type="csv")
        try:
            with track_job("orders", job_type="csv"):
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        job_labels = {"job_name": "orders", "job_type": "csv"}
        print(json.dumps({
            "running_during": running,
            "running_after": value("jobpulse_jobs_running", **job_labels),
            "processed": value("jobpulse_job_records_processed_total", **job_labels),
            "failed": value("jobpulse_job_records_failed_total", **job_labels),
            "steps": value("jobpulse_job_step_duration_seconds_count", job_name="orders", step="load"),
            "completed": value("jobpulse_job_duration_seconds_count", status="completed", **job_labels),
            "failed_runs": value("jobpulse_job_duration_seconds_count", status="failed", **job_labels),
            "last_end": value("jobpulse_job_last_end_timestamp_seconds", status="failed", **job_labels),
        }))
        """,
        capture.url,
    )
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)
    assert values.pop("last_end") > 1_600_000_000
    assert values == {
        "running_during": 1.0,
        "running_after": 0.0,
        "processed": 10.0,
        "failed": 2.0,
        "steps": 1.0,
        "completed": 1.0,
        "failed_runs": 1.0,
    }


SERVING_WORKER = """
    from jobpulse.instrumentation import serve_metrics, track_job
    server = serve_metrics(0)
    with track_job("served") as job:
        job.advance(5)
        print(server.server_port, flush=True)
        input()
"""


def test_serve_metrics_is_scraped_over_http_while_a_job_runs(capture: OtlpCapture) -> None:
    worker = start_script(SERVING_WORKER, capture.url)
    try:
        port = int(worker.stdout.readline())  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/metrics"
        labels = (("job_name", "served"), ("job_type", ""))
        # Counters follow the delivery thread's ticks, not each advance().
        samples = wait_for(lambda: (s := scrape(url)).get(("jobpulse_job_records_processed_total", labels)) and s)
        assert samples[("jobpulse_job_records_processed_total", labels)] == 5.0
        assert samples[("jobpulse_jobs_running", labels)] == 1.0
        worker.communicate("\n", timeout=10)
        assert worker.returncode == 0
    finally:
        worker.kill()
        worker.wait()


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    """A Pushgateway on a free local port, keeping pushes in memory only."""
    binary = require_binary("prometheus-pushgateway", PUSHGATEWAY)
    address = f"127.0.0.1:{free_port()}"
    gateway = subprocess.Popen(
        [binary, f"--web.listen-address={address}", "--persistence.file="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    url = f"http://{address}"
    try:
        wait_for(lambda: _ready(url), timeout=10)
        yield url
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def test_push_metrics_reaches_a_pushgateway(capture: OtlpCapture, pushgateway: str) -> None:
    done = run_script(
        f"""
        from jobpulse.instrumentation import push_metrics, track_job
        with track_job("pushed", job_type="batch") as job:
            job.advance(3)
        push_metrics({pushgateway!r}, job="nightly", grouping_key={{"instance": "etl-1"}})
        with track_job("auto-pushed") as job:
            job.advance(4)
        """,
        capture.url,
        JOBPULSE_PUSHGATEWAY_URL=pushgateway,
        OTEL_SERVICE_NAME="nightly-etl",
    )
    assert done.returncode == 0, done.stderr
    samples = scrape(f"{pushgateway}/metrics")
    explicit = (("instance", "etl-1"), ("job", "nightly"), ("job_name", "pushed"), ("job_type", "batch"))
    assert samples[("jobpulse_job_records_processed_total", explicit)] == 3.0
    # The automatic push after each job uses service.name as the group's job label.
    auto = (("instance", ""), ("job", "nightly-etl"), ("job_name", "auto-pushed"), ("job_type", ""))
    assert samples[("jobpulse_job_records_processed_total", auto)] == 4.0
