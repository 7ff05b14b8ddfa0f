"""What a Prometheus scrape of the sidecar's /metrics costs with many active jobs.

    python bench/bench_metrics.py [--jobs 10000] [--names 50] [--repeat 7]
    python bench/bench_metrics.py --quick    # 1,000 jobs, 3 renders

Builds a JobStore holding ``--jobs`` running jobs (start, a few progress samples and a resource sample
each, spread over ``--names`` job names) plus one finished run per name, then times, per scrape:
the part that holds the event loop (running the collectors and snapshotting the active jobs) and the
whole render, in the Prometheus text format and in OpenMetrics. Results go to docs/metrics.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support

from jobpulse.sidecar.metrics import SidecarMetrics
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.store import JobStore

S = 1_000_000_000
TEXT = "text/plain; version=0.0.4"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def fill(store: JobStore, jobs: int, names: int) -> None:
    now = time.time_ns()
    for number in range(jobs):
        job_id = uuid.uuid4().hex
        name = f"job-{number % names}"
        start = now - 60 * S
        common = {"job_id": job_id, "received_ns": start, "trace_id": uuid.uuid4().hex}
        store.apply(
            JobEvent(
                kind="start",
                seq=1,
                time_ns=start,
                name=name,
                job_type="csv_import",
                total=100_000,
                processed=0,
                expected_duration_s=600.0,
                **common,
            )
        )
        for seq in range(2, 8):
            store.apply(
                JobEvent(kind="progress", seq=seq, time_ns=start + seq * S, processed=seq * 1000, failed=seq, **common)
            )
        store.apply(
            JobEvent(
                kind="resources", seq=8, time_ns=start + 8 * S, rss_bytes=50_000_000, cpu_utilization=0.5, **common
            )
        )
    for number in range(names):
        common = {"job_id": uuid.uuid4().hex, "received_ns": now, "trace_id": uuid.uuid4().hex}
        store.apply(
            JobEvent(kind="start", seq=1, time_ns=now - 30 * S, name=f"job-{number}", job_type="csv_import", **common)
        )
        store.apply(JobEvent(kind="end", seq=2, time_ns=now, status="completed", processed=10, **common))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--names", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 jobs, 3 renders")
    _support.add_json_option(parser)
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.repeat = 1_000, 3

    store = JobStore()
    metrics = SidecarMetrics(store)
    fill(store, args.jobs, args.names)
    print(f"{len(store.active())} active jobs, {args.names} job names")
    summary = []
    for label, accept in (("text", TEXT), ("openmetrics", OPENMETRICS)):
        held, total = [], []
        size = 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            prepared = metrics.snapshot()
            held.append(time.perf_counter() - started)
            body, _ = metrics.encode(prepared, accept)
            total.append(time.perf_counter() - started)
            size = len(body)
        lines = body.count(b"\n")
        print(
            f"{label:12} {size / 1e6:6.1f} MB {lines:8d} lines   loop held {statistics.median(held) * 1e3:6.1f} ms"
            f"   whole render {statistics.median(total) * 1e3:6.1f} ms (median of {args.repeat})"
        )
        scrape = f"scrape of {args.jobs:,} active jobs ({label})"
        summary += [
            _support.SummaryRow(
                bench="metrics", metric=f"{scrape}, event loop held", value=statistics.median(held) * 1e3, unit="ms"
            ),
            _support.SummaryRow(
                bench="metrics", metric=f"{scrape}, whole render", value=statistics.median(total) * 1e3, unit="ms"
            ),
        ]
    _support.write_summary(args.json, summary)


if __name__ == "__main__":
    main()
