"""Latency from ``job.advance()`` in a job process to receipt by WebSocket clients of the live feed.

    python bench/bench_latency.py           # 1,000 jobs / 500 clients, after the 100 / 100 baseline
    python bench/bench_latency.py --quick   # smoke run: 100 jobs / 20 clients, no baseline case, 1 s

Jobs are real ``jobpulse.instrumentation`` jobs: ``--job-procs`` processes, each holding its share of
``track_job`` handles open and advancing them from one thread, each job at a random rate between
``--rate-min`` and ``--rate-max`` advances per second. A job process records (job, processed value,
time.time_ns()) at each ``advance()``. Clients are asyncio ``websockets`` connections
(compression off) spread over ``--client-procs`` processes; they record (frame, time.time_ns()) for
every frame received and decode each distinct frame once. The latency of a received
``job_progress`` message (job, V) is its receive time minus the time ``advance()`` made
processed == V; only the first message carrying a new value of a job counts (a resources sample
also sends ``job_progress``, with a value seen before). Advances made during the measured window
count; their messages may arrive up to ``--drain`` seconds after it. Each message's ``updated_at``
(when the job's delivery thread emitted the record) splits the latency into the job's part and the rest.

The baseline row is the product brief's case (100 jobs, 100 clients, target p99 < 100 ms), measured
in the same run; the target case is 1,000 jobs and 500 clients, target p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import logging
import multiprocessing
import pickle
import random
import sys
import time
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support as s

BIN_US = 50  # histogram resolution of the latency distribution
OTHER_CPU_LIMIT = 15.0  # % of a core used by other processes during a measurement before it is repeated
MAX_LATENCY_S = 30


# ---- job processes -------------------------------------------------------------------------------


def job_worker(
    index: int,
    url: str,
    n_jobs: int,
    rate_min: float,
    rate_max: float,
    progress_interval: float | None,
    cpus: set[int] | None,
    out_path: str,
    ready: Any,
    schedule: Any,
) -> None:
    s.pin(cpus)
    from jobpulse.instrumentation import configure, track_job

    logging.getLogger("jobpulse.instrumentation").setLevel(logging.ERROR)
    configure(
        endpoint=url, service_name=f"bench-latency-{index}", exit_flush_timeout=5.0, progress_interval=progress_interval
    )
    rng = random.Random(index)
    ids = [f"lat-{index}-{j:05d}-{rng.getrandbits(48):012x}" for j in range(n_jobs)]
    advances = array("q")  # (job index, processed, time ns) triplets
    with contextlib.ExitStack() as stack:
        jobs = [
            stack.enter_context(
                track_job(
                    f"orders-import-{j % 40:02d}",
                    job_type=s.JOB_TYPES[j % len(s.JOB_TYPES)],
                    total=10**6,
                    job_id=ids[j],
                    capture_logs=False,
                )
            )
            for j in range(n_jobs)
        ]
        ready.put(("jobs", index, n_jobs))
        t_begin, t_stop = schedule.get()
        low, high = 1.0 / rate_max, 1.0 / rate_min
        heap = [(t_begin + rng.uniform(0, high), j) for j in range(n_jobs)]
        heapq.heapify(heap)
        time_ns, now = time.time_ns, time.time
        while True:
            t_next, j = heap[0]
            if t_next >= t_stop:
                break
            delay = t_next - now()
            if delay > 0:
                time.sleep(delay)
            heapq.heapreplace(heap, (t_next + rng.uniform(low, high), j))
            job = jobs[j]
            t = time_ns()
            job.advance()
            advances.extend((j, job.processed, t))
    with open(out_path, "wb") as out:
        pickle.dump({"ids": ids, "advances": advances.tobytes()}, out)


# ---- client processes ----------------------------------------------------------------------------


class FeedData(msgspec.Struct):
    """The fields of a job_progress message's data that latency needs (the rest is skipped).

    ``updated_at`` is the time of the job's newest record (set by the job's delivery thread when it emits
    the progress record), which splits the latency into the job's part and the rest.
    """

    id: str | None = None
    processed: int | None = None
    updated_at: datetime | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime | None) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000 if moment is not None else 0


class FeedMessage(msgspec.Struct):
    type: str
    cursor: int
    data: FeedData | list | str | int | float | None = None


def client_worker(
    index: int, ws_url: str, n_clients: int, cpus: set[int] | None, out_path: str, ready: Any, schedule: Any
) -> None:
    s.pin(cpus)
    s.raise_nofile(n_clients + 256)
    asyncio.run(_clients(index, ws_url, n_clients, out_path, ready, schedule))


async def _clients(index: int, ws_url: str, n_clients: int, out_path: str, ready: Any, schedule: Any) -> None:
    from websockets.asyncio.client import connect

    decode = msgspec.json.Decoder(list[FeedMessage]).decode
    connections = []
    for start in range(0, n_clients, 50):
        connections += await asyncio.gather(
            *(
                connect(ws_url, compression=None, max_size=None, open_timeout=60, ping_interval=None)
                for _ in range(min(50, n_clients - start))
            )
        )
    ready.put(("clients", index, len(connections)))
    loop = asyncio.get_running_loop()
    t_end = await loop.run_in_executor(None, schedule.get)

    keys: dict[bytes, int] = {}
    # (first cursor, first type, [(job id, processed, updated_at ns) of job_progress messages], messages, bytes)
    frames: list[tuple[int, str, list[tuple[str, int, int]], int, int]] = []
    receipts = array("q")  # (client, frame index, time ns)
    errors: list[str] = []

    def learn(raw: bytes) -> int:
        messages = decode(raw)
        progress = [
            (m.data.id, m.data.processed, _ns(m.data.updated_at))
            for m in messages
            if m.type == "job_progress" and isinstance(m.data, FeedData) and m.data.id is not None
        ]
        frames.append((messages[0].cursor, messages[0].type, progress, len(messages), len(raw)))
        return len(frames) - 1

    async def read(client: int, connection: Any) -> None:
        time_ns = time.time_ns
        try:
            while True:
                raw = await connection.recv(decode=False)
                t = time_ns()
                key = raw[:128]
                frame = keys.get(key)
                if frame is None:
                    frame = keys[key] = learn(raw)
                receipts.extend((client, frame, t))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a dropped client is a result, not a crash
            errors.append(f"{type(error).__name__}: {error}")

    tasks = [asyncio.create_task(read(i, c)) for i, c in enumerate(connections)]
    await asyncio.sleep(max(0.0, t_end - time.time()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with open(out_path, "wb") as out:
        pickle.dump(
            {"frames": frames, "receipts": receipts.tobytes(), "errors": errors, "clients": len(connections)}, out
        )
    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


# ---- one scenario --------------------------------------------------------------------------------


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_case(
    label: str, n_jobs: int, n_clients: int, args: argparse.Namespace, workdir: Path, progress: s.Progress
) -> dict[str, Any]:
    """One scenario; repeated when other processes took CPU during the measured window."""
    for attempt in range(args.retries + 1):
        result = _run_case_once(label, n_jobs, n_clients, args, workdir / f"attempt-{attempt}", progress)
        if result["other_cpu"] < OTHER_CPU_LIMIT or args.profile:
            break
        if attempt < args.retries:
            progress(f"{label}: other processes used {result['other_cpu']:.0f}% of a core meanwhile; repeating")
    return result


def _run_case_once(
    label: str, n_jobs: int, n_clients: int, args: argparse.Namespace, workdir: Path, progress: s.Progress
) -> dict[str, Any]:
    workdir.mkdir(exist_ok=True)
    server_cpus, load_cpus = s.cpu_plan(not args.no_pin)
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    case_dir = workdir / label.replace(" ", "-")
    case_dir.mkdir()
    result: dict[str, Any] = {"label": label, "jobs": n_jobs, "clients": n_clients}
    settings = {"feed_tick_ms": args.feed_tick_ms} if args.feed_tick_ms else {}
    sidecar = s.sidecar_process(case_dir, server_cpus, **settings)
    s.wait_until_quiet(progress, args.wait_quiet)
    progress(f"{label}: starting sidecar")
    with sidecar:
        client_procs, job_procs = [], []
        try:
            client_counts = [n for n in split(n_clients, args.client_procs) if n]
            progress(f"{label}: connecting {n_clients} WebSocket clients from {len(client_counts)} processes")
            client_schedules = []
            for i, n in enumerate(client_counts):
                queue = context.Queue()
                proc = context.Process(
                    target=client_worker,
                    name=f"clients-{i}",
                    daemon=True,
                    args=(i, sidecar.ws_url, n, load_cpus, str(case_dir / f"clients-{i}.pickle"), ready, queue),
                )
                proc.start()
                client_procs.append(proc)
                client_schedules.append(queue)
            _wait_ready(ready, len(client_procs), "clients", client_procs)

            job_counts = [n for n in split(n_jobs, args.job_procs) if n]
            progress(f"{label}: starting {n_jobs} jobs in {len(job_counts)} processes")
            job_schedules = []
            for i, n in enumerate(job_counts):
                queue = context.Queue()
                proc = context.Process(
                    target=job_worker,
                    name=f"jobs-{i}",
                    daemon=True,
                    args=(
                        i,
                        sidecar.url,
                        n,
                        args.rate_min,
                        args.rate_max,
                        args.progress_interval,
                        load_cpus,
                        str(case_dir / f"jobs-{i}.pickle"),
                        ready,
                        queue,
                    ),
                )
                proc.start()
                job_procs.append(proc)
                job_schedules.append(queue)
            _wait_ready(ready, len(job_procs), "jobs", job_procs)

            t_begin = time.time() + 0.5
            t_m0 = t_begin + args.warmup
            t_m1 = t_m0 + args.duration
            for queue in job_schedules:
                queue.put((t_begin, t_m1))
            for queue in client_schedules:
                queue.put(t_m1 + args.drain)
            progress(f"{label}: warm-up {args.warmup:g} s, then measuring {args.duration:g} s")
            time.sleep(max(0.0, t_m0 - time.time()))
            meter = s.CpuMeter([sidecar.pid] + [p.pid for p in job_procs] + [p.pid for p in client_procs]).start()
            machine = s.SystemCpu().start()
            profiler = None
            if args.profile:
                profiler = s.Profiler(
                    sidecar.pid,
                    Path(args.profile) / f"latency-{label.replace(' ', '-')}",
                    args.duration - 0.5,
                    load_cpus,
                ).start()
            time.sleep(max(0.0, t_m1 - time.time()))
            cpu = meter.stop()
            result["other_cpu"] = max(0.0, machine.stop() - sum(cpu))
            result["sidecar_cpu"] = cpu[0]
            result["jobs_cpu"] = sum(cpu[1 : 1 + len(job_procs)])
            result["clients_cpu"] = sum(cpu[1 + len(job_procs) :])
            result["sidecar_rss_mb"] = s.rss_mb(sidecar.pid)
            progress(f"{label}: draining {args.drain:g} s, stopping jobs and clients")
            if profiler is not None:
                profiler.wait()
            for proc in job_procs + client_procs:
                proc.join(args.drain + 60)
            connections = sidecar.get_json("/api/monitor/connections")
            result["resyncs"] = connections["resyncs_sent"]
            result["dropped"] = connections["clients_dropped"]
            result["published"] = connections["messages_published"]
            result["ingest"] = sidecar.get_json("/api/monitor/ingest")
        finally:
            for proc in job_procs + client_procs:
                if proc.is_alive():
                    proc.kill()
                    proc.join()
    progress(f"{label}: computing latencies")
    result.update(analyse(case_dir, len(job_procs), len(client_procs), t_m0, t_m1, args))
    return result


def _wait_ready(ready: Any, count: int, what: str, procs: list[Any], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    seen = 0
    while seen < count:
        try:
            ready.get(timeout=1.0)
            seen += 1
        except Exception:  # queue.Empty
            dead = [p.name for p in procs if not p.is_alive()]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"{what} processes not ready ({seen}/{count}); exited: {dead}") from None


class Histogram:
    """Latencies in microseconds, binned by BIN_US; exact count, max and negatives."""

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.bins = np.zeros(MAX_LATENCY_S * 1_000_000 // BIN_US + 1, dtype=np.int64)
        self.pending: list[Any] = []
        self.pending_size = 0
        self.count = self.worst = self.negative = 0

    def add(self, latencies_us: Any) -> None:
        np = self.np
        self.negative += int((latencies_us < 0).sum())
        latencies_us = np.clip(latencies_us, 0, None)
        self.worst = max(self.worst, int(latencies_us.max()))
        self.count += latencies_us.size
        self.pending.append(np.minimum(latencies_us // BIN_US, len(self.bins) - 1).astype(np.int32))
        self.pending_size += latencies_us.size
        if self.pending_size > 5_000_000:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.bins += self.np.bincount(self.np.concatenate(self.pending), minlength=len(self.bins))
        self.pending, self.pending_size = [], 0

    def quantile(self, q: float) -> float:
        """In ms (bin centre)."""
        if not self.count:
            return float("nan")
        index = int(self.np.searchsorted(self.np.cumsum(self.bins), q * self.count, side="left"))
        return (index + 0.5) * BIN_US / 1000


def analyse(
    case_dir: Path, n_job_procs: int, n_client_procs: int, t_m0: float, t_m1: float, args: argparse.Namespace
) -> dict[str, Any]:
    import numpy as np

    m0, m1 = int(t_m0 * 1e9), int(t_m1 * 1e9)
    # advance times: job id -> array indexed by processed - 1
    advance_times: dict[str, Any] = {}
    advances_in_window = 0
    for i in range(n_job_procs):
        data = pickle.loads((case_dir / f"jobs-{i}.pickle").read_bytes())
        triplets = np.frombuffer(data["advances"], dtype=np.int64).reshape(-1, 3)
        advances_in_window += int(((triplets[:, 2] >= m0) & (triplets[:, 2] < m1)).sum())
        for j, job_id in enumerate(data["ids"]):
            rows = triplets[triplets[:, 0] == j]
            times = np.zeros(int(rows[:, 1].max()) if len(rows) else 0, dtype=np.int64)
            times[rows[:, 1] - 1] = rows[:, 2]
            advance_times[job_id] = times

    clients = [pickle.loads((case_dir / f"clients-{i}.pickle").read_bytes()) for i in range(n_client_procs)]
    # Distinct frames in feed order; a message counts when it is the first to carry its (job, value).
    distinct: dict[tuple[int, str], list[tuple[str, int, int]]] = {}
    for data in clients:
        for cursor, first_type, progress, _, _ in data["frames"]:
            distinct.setdefault((cursor, first_type), progress)
    last_value: dict[str, int] = {}
    fresh: dict[tuple[int, str], tuple[Any, Any]] = {}  # frame -> (advance times, emit times)
    job_side: list[int] = []  # emitted - advanced, once per fresh message
    for key in sorted(distinct):
        advanced, emitted = [], []
        for job_id, value, emitted_ns in distinct[key]:
            if value > last_value.get(job_id, 0):
                last_value[job_id] = value
                known = advance_times.get(job_id)
                if known is not None and 0 < value <= len(known):
                    t = int(known[value - 1])
                    if m0 <= t < m1:
                        advanced.append(t)
                        emitted.append(emitted_ns or t)
                        if emitted_ns:
                            job_side.append(emitted_ns - t)
        fresh[key] = (np.array(advanced, dtype=np.int64), np.array(emitted, dtype=np.int64))

    total, after_job = Histogram(), Histogram()
    frames_in_window = messages_in_window = bytes_in_window = 0
    clients_total = 0
    errors: list[str] = []
    for data in clients:
        clients_total += data["clients"]
        errors += data["errors"]
        receipts = np.frombuffer(data["receipts"], dtype=np.int64).reshape(-1, 3)
        if not len(receipts):
            continue
        frame_keys = [(cursor, first_type) for cursor, first_type, _, _, _ in data["frames"]]
        messages = np.array([n for _, _, _, n, _ in data["frames"]], dtype=np.int64)
        sizes = np.array([b for _, _, _, _, b in data["frames"]], dtype=np.int64)
        in_window = (receipts[:, 2] >= m0) & (receipts[:, 2] < m1)
        frames_in_window += int(in_window.sum())
        messages_in_window += int(messages[receipts[in_window, 1]].sum())
        bytes_in_window += int(sizes[receipts[in_window, 1]].sum())
        by_frame = receipts[np.argsort(receipts[:, 1], kind="stable")]
        boundaries = np.flatnonzero(np.diff(by_frame[:, 1])) + 1
        for group in np.split(by_frame, boundaries):
            advanced, emitted = fresh.get(frame_keys[int(group[0, 1])], (None, None))
            if advanced is None or not len(advanced):
                continue
            received = group[:, 2][:, None]
            total.add((received - advanced[None, :]).ravel() // 1000)
            after_job.add((received - emitted[None, :]).ravel() // 1000)
    total.flush()
    after_job.flush()
    job_ms = np.array(job_side, dtype=np.int64) / 1e6 if job_side else np.array([np.nan])

    window = t_m1 - t_m0
    return {
        "samples": total.count,
        "p50": total.quantile(0.50),
        "p95": total.quantile(0.95),
        "p99": total.quantile(0.99),
        "max": total.worst / 1000,
        "negative": total.negative,
        "job_p50": float(np.percentile(job_ms, 50)),
        "job_p99": float(np.percentile(job_ms, 99)),
        "after_p50": after_job.quantile(0.50),
        "after_p99": after_job.quantile(0.99),
        "advances_per_s": advances_in_window / window,
        "frames_per_s": frames_in_window / window,
        "messages_per_s": messages_in_window / window,
        "mb_per_s": bytes_in_window / 2**20 / window,
        "clients_connected": clients_total,
        "client_errors": errors,
    }


# ---- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000, help="concurrent jobs in the target case (default 1000)")
    parser.add_argument("--clients", type=int, default=500, help="WebSocket clients in the target case (default 500)")
    parser.add_argument("--baseline-jobs", type=int, default=100, help="jobs in the baseline case (default 100)")
    parser.add_argument("--baseline-clients", type=int, default=100, help="clients in the baseline case (default 100)")
    parser.add_argument("--no-baseline", action="store_true", help="run the target case only")
    parser.add_argument("--job-procs", type=int, default=4, help="job processes (default 4)")
    parser.add_argument("--client-procs", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--rate-min", type=float, default=5.0, help="slowest advances/s of a job (default 5)")
    parser.add_argument("--rate-max", type=float, default=10.0, help="fastest advances/s of a job (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of advancing before measuring (default 3)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds (default 15)")
    parser.add_argument("--drain", type=float, default=2.0, help="seconds clients keep reading after (default 2)")
    parser.add_argument(
        "--progress-interval", type=float, help="jobs' progress interval in s (default: the product's, 0.025)"
    )
    parser.add_argument("--feed-tick-ms", type=int, help="sidecar feed tick in ms (default: the product's, 20)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the sidecar to its own core")
    s.add_quiet_options(parser, OTHER_CPU_LIMIT, retries=1)
    parser.add_argument("--profile", metavar="DIR", help="py-spy the sidecar during each measured window, into DIR")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 100 jobs / 20 clients, no baseline case, 1 s, no pinning"
    )
    s.add_json_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.clients, args.no_baseline = 100, 20, True
        args.warmup, args.duration, args.drain, args.job_procs, args.client_procs = 0.5, 1.0, 0.5, 1, 1
        args.wait_quiet, args.retries, args.no_pin = 0.0, 0, True
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    progress = s.Progress()
    failures = s.Failures(progress)
    server_cpus, load_cpus = s.cpu_plan(not args.no_pin)
    s.raise_nofile(args.clients + 1024)
    if args.profile:
        if not s.Profiler.available():
            raise SystemExit("--profile needs py-spy: pip install py-spy")
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    cases = [] if args.no_baseline else [("baseline", args.baseline_jobs, args.baseline_clients, 100.0)]
    cases.append(("target", args.jobs, args.clients, 50.0))
    results = []
    with s.temp_workdir("jobpulse-bench-latency-") as workdir:
        for label, n_jobs, n_clients, target in cases:
            name = f"{label} {n_jobs} jobs {n_clients} clients"
            result = failures.run(name, run_case, name, n_jobs, n_clients, args, workdir, progress)
            if result is not None:
                result.update(case=label, target=target)
                results.append(result)

    print()
    print(f"Machine: {s.machine_line()}")
    print(f"{s.describe_plan(server_cpus, load_cpus)} (job and client processes share the load cores)")
    print(
        f"Jobs advance every {1 / args.rate_max:g}-{1 / args.rate_min:g} s each (uniform jitter), "
        f"from {args.job_procs} processes; "
        f"clients in {args.client_procs} processes; warm-up {args.warmup:g} s, measured {args.duration:g} s, "
        f"drain {args.drain:g} s."
    )
    print(
        f"Batching on the way: job progress interval {args.progress_interval or 0.025:g} s (delivery thread), "
        f"feed tick {args.feed_tick_ms or 20} ms (sidecar)."
    )
    base_p99 = next((r["p99"] for r in results if r["case"] == "baseline"), float("nan"))
    table = []
    for r in results:
        met = r["p99"] < r["target"]
        table.append(
            (
                r["jobs"],
                r["clients"],
                r["samples"],
                f"{r['p50']:.1f}",
                f"{r['p95']:.1f}",
                f"{r['p99']:.1f}",
                f"{r['max']:.1f}",
                f"< {r['target']:g} ms: {'meets' if met else 'MISSES'}",
                f"{r['p99'] / base_p99:.2f}x",
            )
        )
    s.print_table(
        ["jobs", "clients", "latency samples", "p50 ms", "p95 ms", "p99 ms", "max ms", "p99 target", "p99 vs baseline"],
        table,
        "advance() -> WebSocket receipt latency",
    )
    s.print_table(
        ["jobs", "clients", "job side p50 ms", "job side p99 ms", "after the job p50 ms", "after the job p99 ms"],
        [
            (
                r["jobs"],
                r["clients"],
                f"{r['job_p50']:.1f}",
                f"{r['job_p99']:.1f}",
                f"{r['after_p50']:.1f}",
                f"{r['after_p99']:.1f}",
            )
            for r in results
        ],
        "Where the latency is: job side = advance() -> progress record emitted by the job's delivery thread "
        "(updated_at);\nafter the job = record emitted -> received "
        "(OTLP export, sidecar ingest, feed tick, fan-out, client)",
    )
    table = []
    for r in results:
        table.append(
            (
                r["jobs"],
                r["clients"],
                round(r["advances_per_s"]),
                round(r["published"]),
                round(r["frames_per_s"]),
                round(r["messages_per_s"]),
                f"{r['mb_per_s']:.1f}",
                f"{r['sidecar_cpu']:.0f}%",
                f"{r['jobs_cpu']:.0f}%",
                f"{r['clients_cpu']:.0f}%",
                f"{r['other_cpu']:.0f}%",
                f"{r['sidecar_rss_mb']:.0f}",
                r["resyncs"],
                r["dropped"],
            )
        )
    s.print_table(
        [
            "jobs",
            "clients",
            "advances/s",
            "messages published (run)",
            "frames recv/s",
            "messages recv/s",
            "MB/s recv",
            "sidecar CPU",
            "job procs CPU",
            "client procs CPU",
            "other CPU",
            "sidecar RSS MB",
            "resyncs",
            "clients dropped",
        ],
        table,
        "Load during the measured window (CPU in % of one core)",
    )
    busiest = max((r["other_cpu"] for r in results), default=0.0)
    if busiest >= OTHER_CPU_LIMIT:
        print(
            f"WARNING: other processes used up to {busiest:.0f}% of a core during a measurement: "
            "rerun on a quiet machine"
        )
    for r in results:
        ingest = r["ingest"]
        print(
            f"{r['label']}: {r['clients_connected']} clients connected; sidecar ingested {ingest['records']:,} records "
            f"({ingest['records_rejected']} rejected); {len(r['client_errors'])} client errors"
            + (f" (first: {r['client_errors'][0]})" if r["client_errors"] else "")
            + (f"; {r['negative']} negative latencies clipped to 0" if r["negative"] else "")
        )
    if args.profile:
        for r in results:
            raw = Path(args.profile) / f"latency-{r['label'].replace(' ', '-')}.txt"
            if raw.exists():
                s.print_profile(raw, f"py-spy, sidecar, {r['label']}")
    s.write_summary(
        args.json,
        [
            s.SummaryRow(
                bench="latency",
                metric=f"advance() -> feed p99, {r['jobs']:,} jobs / {r['clients']:,} clients",
                value=r["p99"],
                unit="ms",
                baseline=None if r["case"] == "baseline" else base_p99,
                target=f"< {r['target']:g} ms",
                meets=r["p99"] < r["target"],
            )
            for r in results
        ],
    )
    failures.exit_if_any()


if __name__ == "__main__":
    main()
