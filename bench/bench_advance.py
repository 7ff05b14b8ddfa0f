"""Cost of counting work: `Job.advance()` and `Job.iter()` against tqdm, in one run.

    python bench/bench_advance.py

Each loop runs N calls, best of REPEATS; results are ns per call. The target is advance/tqdm <= 0.5.
The job exports to a port where nothing listens (as with no sidecar), so the numbers include the
delivery thread running beside the loop, as they would in a real job.
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import time
from collections.abc import Callable

from tqdm import tqdm

from jobpulse.instrumentation import Job, configure, track_job

N = 1_000_000
REPEATS = 7
TARGET_RATIO = 0.5


def best_ns_per_call(loop: Callable[[int], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter_ns()
        loop(N)
        best = min(best, time.perf_counter_ns() - started)
    return best / N


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


def main() -> None:
    # No sidecar: don't print its absence in the table, and don't wait for it at exit.
    logging.getLogger("jobpulse.instrumentation").setLevel(logging.ERROR)
    configure(endpoint=unused_local_url(), exit_flush_timeout=0.2)

    with open(os.devnull, "w") as devnull, track_job("bench", capture_logs=False) as job:
        bar = tqdm(total=N * REPEATS, file=devnull)
        rows = [
            ("bare loop calling an empty function", best_ns_per_call(bare_calls)),
            ("job.advance()", best_ns_per_call(advance_calls(job))),
            ("tqdm.update(1)", best_ns_per_call(tqdm_updates(bar))),
            ("bare for loop, per item", best_ns_per_call(bare_iteration)),
            ("for x in job.iter(...), per item", best_ns_per_call(job_iteration(job))),
            ("for x in tqdm(...), per item", best_ns_per_call(tqdm_iteration(devnull))),
        ]
        bar.close()
    times = dict(rows)

    print(f"Python {platform.python_version()} on {platform.machine()}, N={N:,}, best of {REPEATS}")
    print(f"{'operation':<40}{'ns/call':>10}")
    for name, ns in rows:
        print(f"{name:<40}{ns:>10.1f}")
    advance_ratio = times["job.advance()"] / times["tqdm.update(1)"]
    iter_ratio = times["for x in job.iter(...), per item"] / times["for x in tqdm(...), per item"]
    verdict = "meets" if advance_ratio <= TARGET_RATIO else "MISSES"
    print(f"advance/tqdm.update ratio: {advance_ratio:.2f} ({verdict} the target <= {TARGET_RATIO})")
    print(f"iter/tqdm iteration ratio: {iter_ratio:.2f}")


if __name__ == "__main__":
    main()
