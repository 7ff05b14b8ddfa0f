"""Cost of counting work: `Job.advance()` and `Job.iter()` against tqdm, in one run.

    python bench/bench_advance.py            # 1,000,000 calls per loop, best of 7
    python bench/bench_advance.py --quick    # 100,000 calls, best of 3

Each loop runs --calls calls, best of --repeats; results are ns per call. The target is
advance/tqdm <= 0.5. The job exports to a port where nothing listens (as with no sidecar), so the
numbers include the delivery thread running beside the loop, as they would in a real job.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support

from jobpulse.instrumentation import Job, configure, track_job

TARGET_RATIO = 0.5


def best_ns_per_call(loop: Callable[[int], object], calls: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter_ns()
        loop(calls)
        best = min(best, time.perf_counter_ns() - started)
    return best / calls


def noop(n: int = 1) -> None:
    pass


def bare_calls(n: int) -> None:
    for _ in range(n):
        noop()


def advance_calls(job: Job) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in range(n):
            job.advance()

    return loop


def tqdm_updates(bar: tqdm) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in range(n):
            bar.update(1)

    return loop


def bare_iteration(n: int) -> None:
    for _ in range(n):
        pass


def job_iteration(job: Job) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in job.iter(range(n)):
            pass

    return loop


def tqdm_iteration(devnull) -> Callable[[int], None]:
    def loop(n: int) -> None:
        for _ in tqdm(range(n), file=devnull):
            pass

    return loop


def unused_local_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls per loop (default 1000000)")
    parser.add_argument("--repeats", type=int, default=7, help="loops per operation, the best counts (default 7)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100,000 calls, best of 3")
    _support.add_json_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.repeats = 100_000, 3
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    calls, repeats = args.calls, args.repeats

    def best(loop: Callable[[int], object]) -> float:
        return best_ns_per_call(loop, calls, repeats)

    # No sidecar: don't print its absence in the table, and don't wait for it at exit.
    logging.getLogger("jobpulse.instrumentation").setLevel(logging.ERROR)
    configure(endpoint=unused_local_url(), exit_flush_timeout=0.2)

    with open(os.devnull, "w") as devnull, track_job("bench", capture_logs=False) as job:
        bar = tqdm(total=calls * repeats, file=devnull)
        rows = [
            ("bare loop calling an empty function", best(bare_calls)),
            ("job.advance()", best(advance_calls(job))),
            ("tqdm.update(1)", best(tqdm_updates(bar))),
            ("bare for loop, per item", best(bare_iteration)),
            ("for x in job.iter(...), per item", best(job_iteration(job))),
            ("for x in tqdm(...), per item", best(tqdm_iteration(devnull))),
        ]
        bar.close()
    times = dict(rows)

    print(f"Python {platform.python_version()} on {platform.machine()}, N={calls:,}, best of {repeats}")
    print(f"{'operation':<40}{'ns/call':>10}")
    for name, ns in rows:
        print(f"{name:<40}{ns:>10.1f}")
    advance_ratio = times["job.advance()"] / times["tqdm.update(1)"]
    iter_ratio = times["for x in job.iter(...), per item"] / times["for x in tqdm(...), per item"]
    verdict = "meets" if advance_ratio <= TARGET_RATIO else "MISSES"
    print(f"advance/tqdm.update ratio: {advance_ratio:.2f} ({verdict} the target <= {TARGET_RATIO})")
    print(f"iter/tqdm iteration ratio: {iter_ratio:.2f}")
    _support.write_summary(
        args.json,
        [
            _support.SummaryRow(
                bench="advance",
                metric="job.advance() vs tqdm.update(1)",
                value=times["job.advance()"],
                unit="ns",
                baseline=times["tqdm.update(1)"],
                target=f"<= {TARGET_RATIO}x",
                meets=advance_ratio <= TARGET_RATIO,
            ),
            _support.SummaryRow(
                bench="advance",
                metric="for x in job.iter() vs tqdm(), per item",
                value=times["for x in job.iter(...), per item"],
                unit="ns",
                baseline=times["for x in tqdm(...), per item"],
            ),
        ],
    )


if __name__ == "__main__":
    main()
