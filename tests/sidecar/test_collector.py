"""The sidecar's process collects garbage rarely and leaves what start-up made out of every collection
(sidecar/collector.py): checked in a real sidecar process through its own Prometheus figures, and in a
fresh interpreter for the settings themselves."""

from __future__ import annotations

import subprocess
import sys
import uuid

from tests.support import loopback
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for


def test_the_collector_is_set_for_a_long_lived_server() -> None:
    code = (
        "import gc; from jobpulse.sidecar.collector import YOUNG_THRESHOLD, collect_rarely, freeze_what_start_up_made;"
        "default = gc.get_threshold(); collect_rarely(); freeze_what_start_up_made();"
        "print(gc.get_threshold() == (YOUNG_THRESHOLD, *default[1:]), gc.get_freeze_count() > 1000)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["True", "True"]


def young_collections(sidecar) -> float:
    metrics = loopback.get(sidecar.url + "/metrics", timeout=10).text
    [line] = [line for line in metrics.splitlines() if line.startswith('python_gc_collections_total{generation="0"}')]
    return float(line.split()[-1])


def test_a_sidecar_busy_with_events_runs_few_young_collections(shared_sidecar) -> None:
    sidecar = shared_sidecar
    before = young_collections(sidecar)
    jobs = [JobEmitter(uuid.uuid4().hex) for _ in range(100)]
    post_logs(sidecar.url, [job.start(name="collector") for job in jobs])
    for count in range(1, 31):
        post_logs(sidecar.url, [job.progress(count) for job in jobs] + [job.log(f"row {count}") for job in jobs])
    wait_for(lambda: all((detail := sidecar.job(job.job_id)) and detail.processed == 30 for job in jobs))
    # With CPython's default threshold (700) these 6,100 records take about 30.
    assert young_collections(sidecar) - before < 5
