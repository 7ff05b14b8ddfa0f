"""Fan-out latency: from a job's progress to its receipt by WebSocket clients of the live feed.

    python bench/bench_latency.py           # 1,000 jobs / 500 clients, after the 100 / 100 baseline
    python bench/bench_latency.py --quick   # smoke run: 100 jobs / 20 clients, no baseline case, 1 s

The load generator must cost less than the sidecar, or the benchmark measures itself (on a 2-core
machine the sidecar has one core and everything else shares the other):

- Jobs: one process replays what ``--emitters`` job processes' delivery threads would send, as OTLP/HTTP
  protobuf (``_support.JobSim``): a start and a step per job, then every 25 ms one request per emitter
  with a progress record for each job that advanced since the last one, and a resources sample per
  job every 5 s (the heartbeat). Each job advances at intervals drawn uniformly between
  1/``--rate-max`` and 1/``--rate-min`` s; a progress record carries the time of the job's newest
  advance, as a coalescing delivery thread would, so the latency below includes that coalescing.
- Clients: asyncio ``websockets`` connections (compression off) spread over ``--client-procs``
  processes. A client reads every frame and notes when; a process decodes each distinct frame once,
  and of it only each message's type and its data's ``updated_at``.

The latency of a ``job_progress`` message is its receive time minus its ``updated_at`` (the time of
the job's newest record in it): how old the news is when a client has it. Messages received during
the measured window count. ``--watchers`` of the clients subscribe to one job each (full rate); the
others watch every job, at the sidecar's default progress rate unless ``--progress-hz`` says otherwise.
The sidecar's own CPU is reported beside each figure: a p99 met with the sidecar's core saturated is
not a margin.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import http.client
import multiprocessing
import pickle
import random
import sys
import time
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support

BIN_US = 50  # histogram resolution of the latency distribution
TARGET_P99_MS = 100.0
OTHER_CPU_LIMIT = 15.0  # % of a core used by other processes during a measurement before it is repeated
MAX_LATENCY_S = 30
DELIVERY_INTERVAL_S = 0.025  # a job process's delivery tick (the instrumentation's progress_interval)
HEARTBEAT_S = 5.0  # a job's resources sample (the instrumentation's resources_interval)


# ---- the job load: one process replaying OTLP ------------------------------------------------------


def job_ids(n_jobs: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [f"lat-{j:05d}-{rng.getrandbits(64):016x}" for j in range(n_jobs)]


def replay_worker(
    url: str,
    ids: list[str],
    emitters: int,
    rate_min: float,
    rate_max: float,
    cpus: set[int] | None,
    ready: Any,
    schedule: Any,
    report: Any,
) -> None:
    _support.pin(cpus)
    rng = random.Random(5)
    parts = urlsplit(url)
    owners = [j % emitters for j in range(len(ids))]
    resources = [_support.process_resource(f"bench-latency-{e:02d}", 30_000 + e) for e in range(emitters)]
    jobs = [_support.JobSim(job_id, rng) for job_id in ids]
    connections = [http.client.HTTPConnection(parts.hostname, parts.port, timeout=60) for _ in range(emitters)]
    requests = records = 0

    def post(batches: list[list[bytes]]) -> None:
        """One request per emitter with records, all sent before any answer is read: job processes
        export concurrently."""
        nonlocal requests, records
        sent = []
        for emitter, batch in enumerate(batches):
            if batch:
                body = _support.logs_request(resources[emitter], batch)
                connections[emitter].request("POST", "/v1/logs", body, {"content-type": _support.PROTOBUF})
                sent.append(emitter)
                records += len(batch)
        for emitter in sent:
            response = connections[emitter].getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"POST /v1/logs: {response.status}")
        requests += len(sent)

    mine = [[job for j, job in enumerate(jobs) if owners[j] == emitter] for emitter in range(emitters)]
    post([[job.start() for job in batch] + [job.step_started() for job in batch] for batch in mine])
    post([[job.resources() for job in batch] for batch in mine])
    ready.put(("jobs", 0, len(jobs)))
    t_begin, t_stop = schedule.get()
    low, high = 1.0 / rate_max, 1.0 / rate_min
    heap = [(t_begin + rng.uniform(0, high), j) for j in range(len(jobs))]
    heapq.heapify(heap)
    heartbeat_ticks = round(HEARTBEAT_S / DELIVERY_INTERVAL_S)
    late: list[float] = []
    tick = 0
    due = t_begin
    while due < t_stop:
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        else:
            late.append(-delay)
        now = time.time()
        # A delivery thread that fell behind sends at once and ticks on from there.
        due = max(due, now) + DELIVERY_INTERVAL_S
        advanced: dict[int, tuple[int, float]] = {}
        while heap[0][0] <= now:
            t, j = heap[0]
            heapq.heapreplace(heap, (t + rng.uniform(low, high), j))
            count, _ = advanced.get(j, (0, 0.0))
            advanced[j] = (count + 1, t)
        batches: list[list[bytes]] = [[] for _ in range(emitters)]
        for j, (count, t) in advanced.items():
            batches[owners[j]].append(jobs[j].progress(count, int(t * 1e9)))
        for j in range(tick % heartbeat_ticks, len(jobs), heartbeat_ticks):
            batches[owners[j]].append(jobs[j].resources())
        post(batches)
        tick += 1
    late.sort()
    report.put(
        {
            "requests": requests,
            "records": records,
            "ticks": tick,
            "late_ticks": len(late),
            "late_p99_ms": 1000 * late[int(0.99 * len(late))] if late else 0.0,
        }
    )


# ---- the clients ---------------------------------------------------------------------------------


class FeedData(msgspec.Struct):
    """The one field of a message's data latency needs; msgspec skips the rest without building it."""

    updated_at: datetime | None = None


class FeedMessage(msgspec.Struct):
    type: str
    data: FeedData | list | str | int | float | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def client_worker(index: int, urls: list[str], cpus: set[int] | None, out_path: str, ready: Any, schedule: Any) -> None:
    _support.pin(cpus)
    _support.raise_nofile(len(urls) + 256)
    asyncio.run(_clients(index, urls, out_path, ready, schedule))


async def _clients(index: int, urls: list[str], out_path: str, ready: Any, schedule: Any) -> None:
    from websockets.asyncio.client import connect

    decode = msgspec.json.Decoder(list[FeedMessage]).decode
    connections = []
    for start in range(0, len(urls), 50):
        connections += await asyncio.gather(
            *(
                connect(url, compression=None, max_size=None, open_timeout=120, ping_interval=None)
                for url in urls[start : start + 50]
            )
        )
    ready.put(("clients", index, len(connections)))
    loop = asyncio.get_running_loop()
    t_end = await loop.run_in_executor(None, schedule.get)

    keys: dict[tuple[int, bytes, bytes], int] = {}
    # Per distinct frame: updated_at (ns) of its job_progress messages, its message count, its size, its type
    frames: list[tuple[bytes, int, int, str]] = []
    receipts = array("q")  # (client, frame index, time ns)
    errors: list[str] = []

    def learn(raw: bytes) -> int:
        messages = decode(raw)
        updated = array(
            "q",
            (
                _ns(m.data.updated_at)
                for m in messages
                if m.type == "job_progress" and isinstance(m.data, FeedData) and m.data.updated_at is not None
            ),
        )
        frames.append((updated.tobytes(), len(messages), len(raw), messages[0].type))
        return len(frames) - 1

    async def read(client: int, connection: Any) -> None:
        time_ns = time.time_ns
        try:
            while True:
                raw = await connection.recv(decode=False)
                t = time_ns()
                # Clients of one filter group get the very same frames: each is decoded once.
                key = (len(raw), raw[:96], raw[-160:])
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


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [chunk for chunk in (items[i::parts] for i in range(parts)) if chunk]


def client_urls(ws_url: str, ids: list[str], n_clients: int, watchers: int, progress_hz: float | None) -> list[str]:
    """Dashboards (every job, at ``progress_hz`` when given) and watchers (one job each)."""
    dashboard = [("progress_hz", str(progress_hz))] if progress_hz is not None else []
    urls = [ws_url + (f"?{urlencode(dashboard)}" if dashboard else "") for _ in range(n_clients - watchers)]
    urls += [f"{ws_url}?{urlencode({'job_id': ids[i * 7919 % len(ids)]})}" for i in range(watchers)]
    return urls


def run_case(
    label: str, n_jobs: int, n_clients: int, args: argparse.Namespace, workdir: Path, progress: _support.Progress
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
    label: str, n_jobs: int, n_clients: int, args: argparse.Namespace, workdir: Path, progress: _support.Progress
) -> dict[str, Any]:
    workdir.mkdir(exist_ok=True)
    server_cpus, load_cpus = _support.cpu_plan(not args.no_pin)
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    case_dir = workdir / label.replace(" ", "-").replace(",", "")
    case_dir.mkdir()
    result: dict[str, Any] = {"label": label, "jobs": n_jobs, "clients": n_clients}
    settings = {"feed_tick_ms": args.feed_tick_ms} if args.feed_tick_ms else {}
    sidecar = _support.sidecar_process(case_dir, server_cpus, **settings)
    _support.wait_until_quiet(progress, args.wait_quiet)
    progress(f"{label}: starting sidecar")
    ids = job_ids(n_jobs)
    watchers = min(args.watchers, n_clients)
    with sidecar:
        procs = []
        try:
            groups = split(client_urls(sidecar.ws_url, ids, n_clients, watchers, args.progress_hz), args.client_procs)
            progress(f"{label}: connecting {n_clients} WebSocket clients from {len(groups)} processes")
            client_schedules = []
            for i, urls in enumerate(groups):
                queue = context.Queue()
                proc = context.Process(
                    target=client_worker,
                    name=f"clients-{i}",
                    daemon=True,
                    args=(i, urls, load_cpus, str(case_dir / f"clients-{i}.pickle"), ready, queue),
                )
                proc.start()
                procs.append(proc)
                client_schedules.append(queue)
            _wait_ready(ready, len(groups), "clients", procs)

            progress(f"{label}: starting {n_jobs} jobs ({args.emitters} emitters, replayed from one process)")
            job_schedule, job_report = context.Queue(), context.Queue()
            replay = context.Process(
                target=replay_worker,
                name="jobs",
                daemon=True,
                args=(
                    sidecar.url,
                    ids,
                    args.emitters,
                    args.rate_min,
                    args.rate_max,
                    load_cpus,
                    ready,
                    job_schedule,
                    job_report,
                ),
            )
            replay.start()
            procs.append(replay)
            _wait_ready(ready, 1, "jobs", [replay])

            t_begin = time.time() + 0.5
            t_m0 = t_begin + args.warmup
            t_m1 = t_m0 + args.duration
            job_schedule.put((t_begin, t_m1))
            for queue in client_schedules:
                queue.put(t_m1 + args.drain)
            progress(f"{label}: warm-up {args.warmup:g} s, then measuring {args.duration:g} s")
            time.sleep(max(0.0, t_m0 - time.time()))
            client_procs = procs[:-1]
            meter = _support.CpuMeter([sidecar.pid, replay.pid] + [p.pid for p in client_procs]).start()
            machine = _support.SystemCpu().start()
            profiler = None
            if args.profile:
                profiler = _support.Profiler(
                    sidecar.pid,
                    Path(args.profile) / f"latency-{label.replace(' ', '-').replace(',', '')}",
                    args.duration - 0.5,
                    load_cpus,
                ).start()
            time.sleep(max(0.0, t_m1 - time.time()))
            cpu = meter.stop()
            result["other_cpu"] = max(0.0, machine.stop() - sum(cpu))
            result["sidecar_cpu"] = cpu[0]
            result["jobs_cpu"] = cpu[1]
            result["clients_cpu"] = sum(cpu[2:])
            result["sidecar_rss_mb"] = _support.rss_mb(sidecar.pid)
            progress(f"{label}: draining {args.drain:g} s, stopping jobs and clients")
            if profiler is not None:
                profiler.wait()
            result["replay"] = job_report.get(timeout=args.drain + 60)
            for proc in procs:
                proc.join(args.drain + 60)
            result["sidecar_peak_mb"] = _support.peak_rss_mb(sidecar.pid)
            connections = sidecar.get_json("/api/monitor/connections")
            result["resyncs"] = connections["resyncs_sent"]
            result["dropped"] = connections["clients_dropped"]
            result["published"] = connections["messages_published"]
            result["ingest"] = sidecar.get_json("/api/monitor/ingest")
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.kill()
                    proc.join()
    progress(f"{label}: computing latencies")
    result.update(analyse(case_dir, len(groups), t_m0, t_m1))
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
        self.count = self.worst = self.negative = 0

    def add(self, latencies_us: Any) -> None:
        np = self.np
        if not latencies_us.size:
            return
        self.negative += int((latencies_us < 0).sum())
        latencies_us = np.clip(latencies_us, 0, None)
        self.worst = max(self.worst, int(latencies_us.max()))
        self.count += latencies_us.size
        self.bins += np.bincount(np.minimum(latencies_us // BIN_US, len(self.bins) - 1), minlength=len(self.bins))

    def quantile(self, q: float) -> float:
        """In ms (bin centre)."""
        if not self.count:
            return float("nan")
        index = int(self.np.searchsorted(self.np.cumsum(self.bins), q * self.count, side="left"))
        return (index + 0.5) * BIN_US / 1000


def analyse(case_dir: Path, n_client_procs: int, t_m0: float, t_m1: float) -> dict[str, Any]:
    import numpy as np

    m0, m1 = int(t_m0 * 1e9), int(t_m1 * 1e9)
    latency = Histogram()
    frames_in_window = messages_in_window = bytes_in_window = resyncs_received = clients_total = 0
    errors: list[str] = []
    for i in range(n_client_procs):
        data = pickle.loads((case_dir / f"clients-{i}.pickle").read_bytes())
        clients_total += data["clients"]
        errors += data["errors"]
        frames = data["frames"]
        receipts = np.frombuffer(data["receipts"], dtype=np.int64).reshape(-1, 3)
        resync_frames = np.array([kind == "resync" for _, _, _, kind in frames] or [False])
        resyncs_received += int(resync_frames[receipts[:, 1]].sum()) if len(receipts) else 0
        receipts = receipts[(receipts[:, 2] >= m0) & (receipts[:, 2] < m1)]
        if not len(receipts):
            continue
        messages = np.array([n for _, n, _, _ in frames], dtype=np.int64)
        sizes = np.array([b for _, _, b, _ in frames], dtype=np.int64)
        frames_in_window += len(receipts)
        messages_in_window += int(messages[receipts[:, 1]].sum())
        bytes_in_window += int(sizes[receipts[:, 1]].sum())
        by_frame = receipts[np.argsort(receipts[:, 1], kind="stable")]
        boundaries = np.flatnonzero(np.diff(by_frame[:, 1])) + 1
        for group in np.split(by_frame, boundaries):
            updated = np.frombuffer(frames[int(group[0, 1])][0], dtype=np.int64)
            if updated.size:
                latency.add(((group[:, 2][:, None] - updated[None, :]) // 1000).ravel())
    window = t_m1 - t_m0
    return {
        "samples": latency.count,
        "p50": latency.quantile(0.50),
        "p95": latency.quantile(0.95),
        "p99": latency.quantile(0.99),
        "max": latency.worst / 1000,
        "negative": latency.negative,
        "frames_per_s": frames_in_window / window,
        "messages_per_s": messages_in_window / window,
        "mb_per_s": bytes_in_window / 2**20 / window,
        "resyncs_received": resyncs_received,
        "clients_connected": clients_total,
        "client_errors": errors,
    }


# ---- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000, help="active jobs in the target case (default 1000)")
    parser.add_argument("--clients", type=int, default=500, help="WebSocket clients in the target case (default 500)")
    parser.add_argument("--baseline-jobs", type=int, default=100, help="jobs in the baseline case (default 100)")
    parser.add_argument("--baseline-clients", type=int, default=100, help="clients in the baseline case (default 100)")
    parser.add_argument("--no-baseline", action="store_true", help="run the target case only")
    parser.add_argument("--emitters", type=int, default=8, help="job processes the replay stands for (default 8)")
    parser.add_argument("--client-procs", type=int, default=2, help="client processes (default 2)")
    parser.add_argument(
        "--watchers", type=int, default=0, help="clients that subscribe to one job each, at full rate (default 0)"
    )
    parser.add_argument(
        "--progress-hz", type=float, help="progress rate the other clients ask for (default: the sidecar's)"
    )
    parser.add_argument("--rate-min", type=float, default=5.0, help="slowest advances/s of a job (default 5)")
    parser.add_argument("--rate-max", type=float, default=10.0, help="fastest advances/s of a job (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of advancing before measuring (default 3)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds (default 15)")
    parser.add_argument("--drain", type=float, default=2.0, help="seconds clients keep reading after (default 2)")
    parser.add_argument("--feed-tick-ms", type=int, help="sidecar feed tick in ms (default: the sidecar's)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the sidecar to its own core")
    _support.add_quiet_options(parser, OTHER_CPU_LIMIT, retries=1)
    parser.add_argument("--profile", metavar="DIR", help="py-spy the sidecar during each measured window, into DIR")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 100 jobs / 20 clients, no baseline case, 1 s, no pinning"
    )
    _support.add_json_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.clients, args.no_baseline = 100, 20, True
        args.warmup, args.duration, args.drain, args.client_procs = 0.5, 1.0, 0.5, 1
        args.wait_quiet, args.retries, args.no_pin = 0.0, 0, True
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    progress = _support.Progress()
    failures = _support.Failures(progress)
    server_cpus, load_cpus = _support.cpu_plan(not args.no_pin)
    _support.raise_nofile(args.clients + 1024)
    if args.profile:
        if not _support.Profiler.available():
            raise SystemExit("--profile needs py-spy: pip install py-spy")
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    cases = [] if args.no_baseline else [("baseline", args.baseline_jobs, args.baseline_clients)]
    cases.append(("target", args.jobs, args.clients))
    results = []
    with _support.temp_workdir("jobpulse-bench-latency-") as workdir:
        for label, n_jobs, n_clients in cases:
            name = f"{label} {n_jobs} jobs {n_clients} clients"
            result = failures.run(name, run_case, name, n_jobs, n_clients, args, workdir, progress)
            if result is not None:
                result["case"] = label
                results.append(result)

    print()
    print(f"Machine: {_support.machine_line()}")
    plan = _support.describe_plan(server_cpus, load_cpus)
    print(f"{plan} (the job replay and the client processes share the load cores)")
    hz = "the sidecar's default" if args.progress_hz is None else f"{args.progress_hz:g}/s"
    print(
        f"Jobs advance every {1 / args.rate_max:g}-{1 / args.rate_min:g} s each, replayed as {args.emitters} job "
        f"processes' OTLP from one process; clients in {args.client_procs} processes ({args.watchers} watching one job "
        f"each, the others every job at {hz} progress); warm-up {args.warmup:g} s, measured {args.duration:g} s."
    )
    base_p99 = next((r["p99"] for r in results if r["case"] == "baseline"), float("nan"))
    _support.print_table(
        [
            "jobs",
            "clients",
            "latency samples",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            f"p99 < {TARGET_P99_MS:g} ms",
            "p99 vs baseline",
            "sidecar CPU",
        ],
        [
            (
                r["jobs"],
                r["clients"],
                r["samples"],
                f"{r['p50']:.1f}",
                f"{r['p95']:.1f}",
                f"{r['p99']:.1f}",
                f"{r['max']:.1f}",
                "meets" if r["p99"] < TARGET_P99_MS else "MISSES",
                f"{r['p99'] / base_p99:.2f}x",
                f"{r['sidecar_cpu']:.0f}%",
            )
            for r in results
        ],
        "job progress -> WebSocket receipt latency (receive time - the message's updated_at)",
    )
    _support.print_table(
        [
            "jobs",
            "clients",
            "records/s in",
            "messages published (run)",
            "frames recv/s",
            "messages recv/s",
            "MB/s recv",
            "bytes/message",
            "sidecar CPU",
            "job replay CPU",
            "client procs CPU",
            "other CPU",
            "sidecar RSS MB",
            "sidecar peak MB",
            "resyncs",
            "clients dropped",
        ],
        [
            (
                r["jobs"],
                r["clients"],
                round(r["replay"]["records"] / (args.warmup + args.duration + 0.5)),
                r["published"],
                round(r["frames_per_s"]),
                round(r["messages_per_s"]),
                f"{r['mb_per_s']:.1f}",
                round(r["mb_per_s"] * 2**20 / r["messages_per_s"]) if r["messages_per_s"] else "-",
                f"{r['sidecar_cpu']:.0f}%",
                f"{r['jobs_cpu']:.0f}%",
                f"{r['clients_cpu']:.0f}%",
                f"{r['other_cpu']:.0f}%",
                f"{r['sidecar_rss_mb']:.0f}",
                f"{r['sidecar_peak_mb']:.0f}",
                r["resyncs"],
                r["dropped"],
            )
            for r in results
        ],
        "Load during the measured window (CPU in % of one core)",
    )
    busiest = max((r["other_cpu"] for r in results), default=0.0)
    if busiest >= OTHER_CPU_LIMIT:
        print(
            f"WARNING: other processes used up to {busiest:.0f}% of a core during a measurement: "
            "rerun on a quiet machine"
        )
    for r in results:
        ingest, replay = r["ingest"], r["replay"]
        print(
            f"{r['label']}: {r['clients_connected']} clients connected; sidecar ingested {ingest['records']:,} records "
            f"({ingest['records_rejected']} rejected); replay ticks late {replay['late_ticks']} of {replay['ticks']} "
            f"(p99 {replay['late_p99_ms']:.1f} ms); {r['resyncs_received']} resyncs received; "
            f"{len(r['client_errors'])} client errors"
            + (f" (first: {r['client_errors'][0]})" if r["client_errors"] else "")
            + (f"; {r['negative']} negative latencies clipped to 0" if r["negative"] else "")
        )
    if args.profile:
        for r in results:
            raw = Path(args.profile) / f"latency-{r['label'].replace(' ', '-').replace(',', '')}.txt"
            if raw.exists():
                _support.print_profile(raw, f"py-spy, sidecar, {r['label']}")
    _support.write_summary(
        args.json,
        [
            _support.SummaryRow(
                bench="latency",
                metric=(
                    f"advance() -> feed p99, {r['jobs']:,} jobs / {r['clients']:,} clients"
                    f" (sidecar CPU {r['sidecar_cpu']:.0f}%)"
                ),
                value=r["p99"],
                unit="ms",
                baseline=None if r["case"] == "baseline" else base_p99,
                target=f"< {TARGET_P99_MS:g} ms",
                meets=r["p99"] < TARGET_P99_MS,
            )
            for r in results
        ],
    )
    failures.exit_if_any()


if __name__ == "__main__":
    main()
