"""Sidecar memory (RSS) with 10,000 active jobs and 1,000 WebSocket clients; target < 300 MB, peaks included.

    python bench/bench_memory.py            # 10,000 jobs, 1,000 clients
    python bench/bench_memory.py --quick    # smoke run: 500 jobs, 50 clients

The baseline, measured in the same run, is the sidecar's RSS right after start (idle). Steps:

1. idle: started, ready, nothing sent;
2. jobs: ``--jobs`` jobs posted over OTLP/HTTP protobuf as their job processes would send them
   (100 jobs per process, start + step + progress + log lines + a resources sample per job, with
   realistic attribute sizes), checked through GET /api/monitor/ingest;
3. clients: ``--clients`` asyncio ``websockets`` clients (compression off) connected from a separate
   process in waves of ``--wave``; each reads its initial snapshot (all active jobs, in parts of
   500 jobs) to its last part;
4. burst: one more progress record for every job, fanned out to every client, all of it read.
5. clients gone: every client disconnected.

The sidecar runs with JOBPULSE_HEARTBEAT_WINDOW_S=3600, so that jobs which sent one resources
sample stay "running" for the whole run instead of turning "lost" after a minute (and all 10,000
status changes being fanned out). RSS is read with psutil after each step has settled; "peak" is the highest RSS
sampled (every 10 ms) during the step, and VmHWM the kernel's high-water mark of the process so far.
What a job costs is the RSS the jobs added over idle, divided by their number.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support

from jobpulse.sidecar.settings import Settings

TARGET_MB = 300.0
# The end of a snapshot part's frame (msgspec keeps the data's key order: jobs, part, parts).
PART = re.compile(rb'"part":(\d+),"parts":(\d+)\}\}\]$')
JOBS_PER_PROCESS = 100
LOG_LINES_PER_JOB = 5
PROGRESS_PER_JOB = 3


# ---- the WebSocket clients (separate process) ----------------------------------------------------


def client_worker(
    ws_url: str,
    n_clients: int,
    wave: int,
    expected_jobs: int,
    cpus: set[int] | None,
    counters: Any,
    control: Any,
    report: Any,
) -> None:
    _support.pin(cpus)
    _support.raise_nofile(n_clients + 256)
    asyncio.run(_clients(ws_url, n_clients, wave, expected_jobs, counters, control, report))


async def _clients(
    ws_url: str, n_clients: int, wave: int, expected_jobs: int, counters: Any, control: Any, report: Any
) -> None:
    import msgspec
    from websockets.asyncio.client import connect

    snapshot_ok: list[bool] = []
    errors: list[str] = []
    first_snapshot: dict[str, Any] = {}

    async def client(index: int) -> None:
        try:
            connection = await connect(ws_url, compression=None, max_size=None, open_timeout=120, ping_interval=None)
        except Exception as error:
            errors.append(f"connect: {type(error).__name__}: {error}")
            return
        connections.append(connection)
        try:
            frames = [await connection.recv(decode=False)]
            while (part := PART.search(frames[-1][-64:])) is not None and part[1] != part[2]:
                frames.append(await connection.recv(decode=False))
            size = sum(map(len, frames))
            if not first_snapshot:
                first_snapshot["size"] = size
                first_snapshot["parts"] = len(frames)
                first_snapshot["jobs"] = sum(len(msgspec.json.decode(raw)[0]["data"]["jobs"]) for raw in frames)
            # Snapshots built at different moments differ in a few derived figures (execution time...):
            # complete = snapshot parts up to the last, about the size of the first client's (that one is decoded).
            snapshot_ok.append(
                all(raw.startswith(b'[{"type":"snapshot"') for raw in frames)
                and abs(size - first_snapshot["size"]) < 0.01 * first_snapshot["size"]
            )
            with counters.get_lock():
                counters[0] += 1
                counters[1] += size
            while True:  # keep reading whatever the feed sends
                raw = await connection.recv(decode=False)
                with counters.get_lock():
                    counters[1] += len(raw)
                    counters[2] += 1
        except asyncio.CancelledError:
            raise
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")

    connections: list[Any] = []
    tasks: list[asyncio.Task[None]] = []
    for start in range(0, n_clients, wave):
        batch = [asyncio.create_task(client(i)) for i in range(start, min(n_clients, start + wave))]
        tasks += batch
        # next wave once this one has its snapshots (or failed)
        while counters[0] + len(errors) < min(n_clients, start + wave):
            await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, control.get)  # told to disconnect
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
    report.put({"snapshots_ok": sum(snapshot_ok), "errors": errors, "snapshot": first_snapshot})


# ---- posting jobs --------------------------------------------------------------------------------


class Poster:
    """Posts OTLP protobuf requests to the sidecar over one keep-alive connection."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=60.0, headers={"content-type": _support.PROTOBUF})
        self.records = 0

    def post(self, resource: bytes, records: list[bytes]) -> None:
        for start in range(0, len(records), 200):
            chunk = records[start : start + 200]
            self.client.post("/v1/logs", content=_support.logs_request(resource, chunk)).raise_for_status()
            self.records += len(chunk)

    def close(self) -> None:
        self.client.close()


def make_processes(n_jobs: int, seed: int) -> list[tuple[bytes, list[_support.JobSim]]]:
    """Job processes (resource, jobs), JOBS_PER_PROCESS jobs each, as the instrumentation would run them."""
    rng = random.Random(seed)
    processes = []
    for p in range(0, n_jobs, JOBS_PER_PROCESS):
        resource = _support.process_resource(f"etl-runner-{p // JOBS_PER_PROCESS % 16:02d}", 20_000 + p)
        jobs = [_support.JobSim(f"{rng.getrandbits(128):032x}", rng) for _ in range(min(JOBS_PER_PROCESS, n_jobs - p))]
        processes.append((resource, jobs))
    return processes


def post_jobs(poster: Poster, processes: list[tuple[bytes, list[_support.JobSim]]], log_lines: int) -> None:
    for resource, jobs in processes:
        poster.post(resource, [job.start() for job in jobs] + [job.step_started() for job in jobs])
        for _ in range(PROGRESS_PER_JOB):
            poster.post(resource, [job.progress() for job in jobs])
        poster.post(resource, [job.log() for job in jobs for _ in range(log_lines)])
        poster.post(resource, [job.resources() for job in jobs])


def post_burst(poster: Poster, processes: list[tuple[bytes, list[_support.JobSim]]]) -> None:
    for resource, jobs in processes:
        poster.post(resource, [job.progress() for job in jobs])


# ---- measuring -----------------------------------------------------------------------------------


class RssSampler:
    """Samples a process's RSS every 10 ms in a thread; ``peak()`` is the highest since the last reset."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            try:
                self._peak = max(self._peak, self.process.memory_info().rss)
            except Exception:
                return

    def reset(self) -> None:
        self._peak = 0

    def peak(self) -> float:
        return self._peak / 2**20

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def wait_quiet(counters: Any, sidecar: _support.ServerProcess, quiet: float = 1.0, timeout: float = 180.0) -> None:
    """Until the clients' byte counter stops moving and no client has frames queued in the sidecar."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = counters[1]
        if now != last:
            last, since = now, time.monotonic()
            continue
        if time.monotonic() - since >= quiet:
            queued = sum(c["queued_frames"] for c in sidecar.get_json("/api/monitor/connections")["clients"])
            if queued == 0:
                return
            since = time.monotonic()
    raise RuntimeError("the feed did not go quiet")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="active jobs (default 10000)")
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients (default 1000)")
    parser.add_argument("--wave", type=int, default=50, help="clients connecting at once (default 50)")
    parser.add_argument(
        "--log-lines",
        type=int,
        default=LOG_LINES_PER_JOB,
        help=f"log lines per job (default {LOG_LINES_PER_JOB}; the sidecar keeps the newest "
        f"{Settings().recent_logs_per_job}, its recent_logs_per_job)",
    )
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait before reading RSS (default 2)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the sidecar to its own core")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=60.0,
        help="first wait up to this many s for other processes to calm down (default 60)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 500 jobs, 50 clients, no pinning")
    _support.add_json_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.clients, args.settle, args.wait_quiet, args.no_pin = 500, 50, 0.25, 0.0, True
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    progress = _support.Progress()
    server_cpus, load_cpus = _support.cpu_plan(not args.no_pin)
    _support.pin(load_cpus)
    context = multiprocessing.get_context("spawn")
    rows: list[tuple[str, float, float, float, str]] = []
    with _support.temp_workdir("jobpulse-bench-memory-") as workdir:
        _support.wait_until_quiet(progress, args.wait_quiet)
        progress("starting sidecar")
        # The jobs send no heartbeats after their first resources sample (10,000 jobs heartbeating every
        # 5 s would be 2,000 records/s fanned out to every client, more than this benchmark is about),
        # so the lost-job window is raised: otherwise they would all turn "lost" a minute in.
        sidecar = _support.sidecar_process(workdir, server_cpus, heartbeat_window_s=3600)
        client_proc = None
        with sidecar:
            sampler = RssSampler(sidecar.pid)
            poster = Poster(sidecar.url)
            counters = context.Array("q", 3)  # snapshots received, bytes received, frames after snapshot
            control, report = context.Queue(), context.Queue()
            try:
                time.sleep(args.settle)
                idle = _support.rss_mb(sidecar.pid)

                def row(step: str, note: str) -> None:
                    rss = _support.rss_mb(sidecar.pid)
                    rows.append((step, rss, sampler.peak(), _support.peak_rss_mb(sidecar.pid), note))
                    progress(f"  RSS {rss:.1f} MB (peak during step {sampler.peak():.1f} MB)")
                    sampler.reset()

                rows.append(("idle (after start)", idle, sampler.peak(), _support.peak_rss_mb(sidecar.pid), "baseline"))
                sampler.reset()

                progress(
                    f"posting {args.jobs:,} jobs (start, step, {PROGRESS_PER_JOB} progress, "
                    f"{args.log_lines} log lines, resources each)"
                )
                processes = make_processes(args.jobs, seed=7)
                started = time.monotonic()
                post_jobs(poster, processes, args.log_lines)
                post_seconds = time.monotonic() - started
                ingest = sidecar.get_json("/api/monitor/ingest")
                active = sidecar.get_json("/api/monitor/jobs")["count"]
                if ingest["records_rejected"] or ingest["records_applied"] != poster.records or active != args.jobs:
                    raise SystemExit(f"the sidecar did not take the jobs in: {ingest}, {active} active")
                time.sleep(args.settle)
                per_job_kb = (_support.rss_mb(sidecar.pid) - idle) * 1024 / args.jobs
                row(
                    f"{args.jobs:,} active jobs",
                    f"{poster.records:,} records applied in {post_seconds:.1f} s, {active:,} active jobs, "
                    f"{per_job_kb:.1f} KB per job",
                )

                progress(
                    f"connecting {args.clients:,} WebSocket clients in waves of {args.wave}, each reading its snapshot"
                )
                client_proc = context.Process(
                    target=client_worker,
                    daemon=True,
                    args=(sidecar.ws_url, args.clients, args.wave, args.jobs, load_cpus, counters, control, report),
                )
                started = time.monotonic()
                client_proc.start()
                while counters[0] < args.clients:
                    if not client_proc.is_alive():
                        raise SystemExit("the client process died")
                    if time.monotonic() - started > 300:
                        raise SystemExit(f"only {counters[0]} of {args.clients} clients got their snapshot")
                    time.sleep(0.05)
                connect_seconds = time.monotonic() - started
                snapshot_bytes = counters[1]
                connected = sidecar.get_json("/api/monitor/connections")["count"]
                time.sleep(args.settle)
                row(
                    f"+ {args.clients:,} WebSocket clients",
                    f"{connected:,} connected; {snapshot_bytes / 2**20:,.0f} MB of snapshots read "
                    f"in {connect_seconds:.1f} s",
                )

                progress(f"burst: one progress record for each of the {args.jobs:,} jobs, fanned out to every client")
                before = counters[1]
                started = time.monotonic()
                post_burst(poster, processes)
                wait_quiet(counters, sidecar)
                burst_seconds = time.monotonic() - started
                time.sleep(args.settle)
                row(
                    "+ progress burst, all jobs",
                    f"{(counters[1] - before) / 2**20:,.0f} MB fanned out and read in {burst_seconds:.1f} s",
                )

                progress("disconnecting the clients")
                control.put("stop")
                outcome = report.get(timeout=120)
                client_proc.join(30)
                time.sleep(args.settle)
                row("clients disconnected", f"{sidecar.get_json('/api/monitor/connections')['count']} connected")
            finally:
                poster.close()
                sampler.stop()
                if client_proc is not None and client_proc.is_alive():
                    client_proc.kill()
                    client_proc.join()

    print()
    print(f"Machine: {_support.machine_line()}")
    print(f"{_support.describe_plan(server_cpus, load_cpus)} (the poster and the client process share the load cores)")
    snapshot = outcome["snapshot"]
    print(
        f"Initial snapshot: {snapshot.get('jobs', 0):,} jobs in {snapshot.get('parts', 0)} parts, "
        f"{snapshot.get('size', 0) / 2**20:.1f} MB of JSON per client; "
        f"{outcome['snapshots_ok']:,} of {args.clients:,} clients read a complete one; "
        f"{len(outcome['errors'])} client errors" + (f" (first: {outcome['errors'][0]})" if outcome["errors"] else "")
    )
    table = [
        (
            step,
            f"{rss:.1f}",
            f"{rss - idle:+.1f}",
            f"{rss / idle:.2f}x",
            f"{peak:.1f}",
            f"{hwm:.1f}",
            "meets" if rss < TARGET_MB else "MISSES",
            note,
        )
        for step, rss, peak, hwm, note in rows
    ]
    _support.print_table(
        [
            "step",
            "RSS MB",
            "vs idle MB",
            "vs idle",
            "peak in step MB",
            "VmHWM MB",
            f"< {TARGET_MB:g} MB",
            "what happened",
        ],
        table,
        "Sidecar RSS",
    )
    loaded = max(rss for step, rss, *_ in rows[:4])
    highest = rows[-1][3]
    print(
        f"\nWith {args.jobs:,} jobs and {args.clients:,} clients the settled RSS is at most {loaded:.1f} MB, "
        f"the highest ever (VmHWM, connect peak included) {highest:.1f} MB: "
        f"{'meets' if highest < TARGET_MB else 'MISSES'} the target < {TARGET_MB:g} MB; "
        f"{per_job_kb:.1f} KB per job."
    )
    load = f"{args.jobs:,} jobs + {args.clients:,} clients"
    _support.write_summary(
        args.json,
        [
            _support.SummaryRow(
                bench="memory",
                metric=f"RSS, {load}, highest ever (VmHWM, connect peak included; vs idle)",
                value=highest,
                unit="MB",
                baseline=idle,
                target=f"< {TARGET_MB:g} MB",
                meets=highest < TARGET_MB,
            ),
            _support.SummaryRow(bench="memory", metric=f"RSS, {load}, highest settled", value=loaded, unit="MB"),
            _support.SummaryRow(bench="memory", metric="per job", value=per_job_kb, unit="KB"),
        ],
    )


if __name__ == "__main__":
    main()
