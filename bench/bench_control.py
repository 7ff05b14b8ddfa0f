"""Control latency: from the REST call that pauses (or resumes) a job to the job's acknowledgement.

Real job processes (jobpulse.instrumentation, advancing every millisecond) long-poll a real sidecar.
For each request the clock starts before ``POST /api/jobs/{id}/pause`` and stops when a WebSocket
client of the live feed receives the job's new status — what an operator watching a dashboard sees.
Baseline in the same run: the POST's own round trip. Target: p95 under 200 ms.

    python bench/bench_control.py            # 5 jobs, 100 requests
    python bench/bench_control.py --quick    # 2 jobs, 20 requests
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _support

from jobpulse.client import Filters, JobStatusUpdate, Snapshot
from tests.support.feed_watch import FeedWatch
from tests.support.job_scripts import start_script
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

JOB = """
import time
from jobpulse.instrumentation import track_job
with track_job("bench-control", job_id={job_id!r}) as job:
    while True:
        job.advance()
        time.sleep(0.001)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100, help="pauses and resumes in all")
    parser.add_argument("--quick", action="store_true")
    _support.add_json_option(parser)
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.requests = 2, 20
    workdir = Path(tempfile.mkdtemp(prefix="jobpulse-bench-control-"))
    sidecar = SidecarProcess(workdir).start()
    job_ids = [uuid.uuid4().hex for _ in range(args.jobs)]
    processes = [start_script(JOB.format(job_id=job_id), sidecar.url) for job_id in job_ids]
    round_trips: dict[str, list[float]] = {"pause": [], "resume": []}
    acknowledged: dict[str, list[float]] = {"pause": [], "resume": []}
    try:
        print(f"starting {args.jobs} job processes …", flush=True)
        for job_id in job_ids:
            wait_for(lambda job_id=job_id: sidecar.job(job_id), timeout=30)
        time.sleep(2.5)  # let every job's control thread settle into its long poll
        client = sidecar.client
        with FeedWatch(sidecar.url, Filters(message_types=["job_status_update"])) as feed:
            feed.wait_for(Snapshot)
            for number in range(args.requests):
                job_id = job_ids[number // 2 % args.jobs]
                action, status = ("pause", "paused") if number % 2 == 0 else ("resume", "running")
                before = feed.messages[-1].cursor
                started = time.perf_counter()
                (client.pause if action == "pause" else client.resume)(job_id)
                round_trips[action].append((time.perf_counter() - started) * 1000)
                feed.wait_for(
                    JobStatusUpdate,
                    lambda m, job_id=job_id, status=status, before=before: (
                        m.cursor > before
                        and m.data.id == job_id
                        and m.data.status == status
                        and not m.data.pending_command
                    ),
                    timeout=10,
                )
                acknowledged[action].append((time.perf_counter() - started) * 1000)
                if (number + 1) % 20 == 0:
                    print(f"  {number + 1} requests", flush=True)
    finally:
        for process in processes:
            process.kill()
        sidecar.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    floor = statistics.median(round_trips["pause"] + round_trips["resume"])
    print(f"\n{args.jobs} jobs, {args.requests} requests; baseline: the POST's own round trip, p50 {floor:.1f} ms")
    print(f"{'request':8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p95/floor':>10}  target p95 < 200 ms")
    summary = []
    for action, times in acknowledged.items():
        p95 = _support.percentile(times, 0.95)
        print(
            f"{action:8} {statistics.median(times):>8.1f} {p95:>8.1f} {max(times):>8.1f} {p95 / floor:>10.1f}  "
            f"{'ok' if p95 < 200 else 'MISSED'}"
        )
        summary.append(
            _support.SummaryRow(
                bench="control",
                metric=f"{action} acknowledged, p95 (vs the POST's p50)",
                value=p95,
                unit="ms",
                baseline=floor,
                target="p95 < 200 ms",
                meets=p95 < 200,
            )
        )
    _support.write_summary(args.json, summary)


if __name__ == "__main__":
    main()
