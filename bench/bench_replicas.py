"""Replicas on the bus: ingest and job-to-client latency with 1, 2 and 4 replicas, against one embedded process.

    python bench/bench_replicas.py           # 1, 2 and 4 replicas; 2 s warm-up + 8 s ingest, 8 s latency each
    python bench/bench_replicas.py --quick   # smoke run: 2 replicas against the embedded process, 1 s each
    python bench/bench_replicas.py --profile DIR   # also py-spy every sidecar while ingest is measured

Every case starts its sidecars afresh on one redis-server and one PostgreSQL server (a new database and
a new stream per case). The baseline, measured in the same run, is one sidecar without a broker on the
same PostgreSQL: the embedded process, which folds each request where it arrives.

Latency: a probe job sends a progress record (processed + 1) every ``--probe-interval`` to the first
replica, while a background load of ``--background`` records/s is spread over every replica; a WebSocket
client on the last replica (another one than the probe sends to, when there are two or more) subscribed to
the probe job takes the time each value reaches it. Latency = receipt - the moment the request was sent.

Ingest: one ``wrk`` per replica (bench_ingest.py's realistic bodies of ``--batch`` records, distinct job
ids per wrk) for ``--duration`` s. An answered request is only on the stream: what counts is what every
replica has folded. After wrk stops, the replicas' ``jobpulse_sidecar_bus_events_total{direction="read"}``
are polled until each has read everything written; the fleet's rate is the slowest replica's events read
since the measurement began over the time until it had read them all. The sidecars' own CPU over the
same time gives each replica's events folded per CPU-second: with a core per replica, the fleet could go
no faster than the lowest of those (the "ceiling" column), because every replica folds every event.
Nothing is pinned: the sidecars, wrk, Redis and PostgreSQL share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import resource
import shutil
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support
import bench_ingest

from tests.support.postgres import PostgresServer, find_bin_dir
from tests.support.redis_server import RedisServer

EMBEDDED = 0  # the case with no broker: one sidecar folding what it receives
OTHER_CPU_LIMIT = 15.0
SCALING = 0.7  # the ceiling a fleet of N should reach: this fraction of N times one embedded process's
_READ = re.compile(rb'^jobpulse_sidecar_bus_events_total\{direction="read"\} (\S+)$', re.M)
_WRITTEN = re.compile(rb'^jobpulse_sidecar_bus_events_total\{direction="written"\} (\S+)$', re.M)


def label(replicas: int) -> str:
    return "embedded (no broker)" if replicas == EMBEDDED else f"{replicas} replica{'s' if replicas > 1 else ''}"


# ---- servers -------------------------------------------------------------------------------------


class Fleet:
    """The sidecars of one case, started and stopped together, and what the machine's other servers use."""

    def __init__(self, replicas: int, workdir: Path, postgres: PostgresServer, redis: RedisServer) -> None:
        settings: dict[str, Any] = {"database_url": postgres.new_database()}
        if replicas != EMBEDDED:
            settings.update(broker_url=redis.url, bus_stream=f"bench:{uuid.uuid4().hex[:8]}")
        self.sidecars = [_support.sidecar_process(workdir, **settings) for _ in range(max(1, replicas))]
        self.on_bus = replicas != EMBEDDED

    def __enter__(self) -> Fleet:
        with ThreadPoolExecutor(len(self.sidecars)) as pool:
            list(pool.map(lambda sidecar: sidecar.start(), self.sidecars))
        return self

    def __exit__(self, *exc: object) -> None:
        with ThreadPoolExecutor(len(self.sidecars)) as pool:
            list(pool.map(lambda sidecar: sidecar.stop(), self.sidecars))

    def bus_events(self) -> tuple[list[float], float]:
        """(events each replica read, events all of them wrote), from their /metrics."""
        read, written = [], 0.0
        for sidecar in self.sidecars:
            body = httpx.get(sidecar.url + "/metrics", timeout=30).content
            read.append(float(_READ.search(body).group(1)))
            written += float(_WRITTEN.search(body).group(1))
        return read, written


def profile_prefix(directory: Path, fleet: Fleet, index: int) -> Path:
    case = f"replicas{len(fleet.sidecars)}" if fleet.on_bus else "embedded"
    return directory / f"{case}-sidecar{index + 1}"


def print_profiles(directory: Path) -> None:
    """Each profiled sidecar's self time by area."""
    for raw in sorted(directory.glob("*-sidecar*.txt")):
        _support.print_profile(raw, f"py-spy, {raw.stem}")


def postgres_pids(postgres: PostgresServer) -> list[int]:
    """The postmaster and its backends (the sidecars' pooled connections) as they are now."""
    postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])
    return [postmaster, *(child.pid for child in psutil.Process(postmaster).children(recursive=True))]


# ---- latency -------------------------------------------------------------------------------------


class FeedProgress(msgspec.Struct):
    processed: int | None = None


class FeedMessage(msgspec.Struct):
    type: str
    data: FeedProgress | list | str | int | float | None = None


async def measure_latency(fleet: Fleet, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    rng = random.Random(seed)
    probe = _support.JobSim(f"probe-{rng.getrandbits(64):016x}", rng)
    probe_resource = _support.process_resource("bench-replicas-probe", 1)
    background = _support.EmitterSim(1, 100, seed=seed)
    urls = [sidecar.url + "/v1/logs" for sidecar in fleet.sidecars]
    headers = {"content-type": _support.PROTOBUF}
    sent_ns: list[int] = []  # sent_ns[v - 1]: when the request making processed == v was sent
    latencies_ms: list[float] = []
    decode = msgspec.json.Decoder(list[FeedMessage]).decode

    async with httpx.AsyncClient(timeout=10) as http:

        async def post(url: str, body: bytes) -> None:
            (await http.post(url, content=body, headers=headers)).raise_for_status()

        await post(urls[0], _support.logs_request(probe_resource, [probe.start()]))
        ws_url = f"{fleet.sidecars[-1].ws_url}?job_id={probe.id}&message_type=job_progress"
        async with connect(ws_url, compression=None, max_size=None, ping_interval=None) as feed:

            async def read() -> None:
                seen = 0
                async for raw in feed:
                    received = time.time_ns()
                    for message in decode(raw):
                        if message.type == "job_progress" and isinstance(message.data, FeedProgress):
                            value = min(message.data.processed or 0, len(sent_ns))
                            latencies_ms.extend((received - sent_ns[v]) / 1e6 for v in range(seen, value))
                            seen = max(seen, value)

            async def every(interval: float, send: Any) -> None:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + args.latency_duration
                tick = loop.time()
                while tick < deadline:
                    await send()
                    tick += interval
                    await asyncio.sleep(max(0.0, tick - loop.time()))

            async def send_probe() -> None:
                body = _support.logs_request(probe_resource, [probe.progress(1)])
                sent_ns.append(time.time_ns())
                await post(urls[0], body)

            turn = iter(range(10**9))
            batch = max(1, round(args.background * args.background_interval))

            async def send_background() -> None:
                await post(urls[next(turn) % len(urls)], background.request(batch))

            reader = asyncio.create_task(read())
            await asyncio.gather(
                every(args.probe_interval, send_probe), every(args.background_interval, send_background)
            )
            # Messages of the last values may still be on their way.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(_until(lambda: len(latencies_ms) >= len(sent_ns))), 5.0)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    if not latencies_ms:
        raise RuntimeError("the probe job's progress never reached the client")
    return {
        "samples": len(latencies_ms),
        "sent": len(sent_ns),
        "p50": _support.percentile(latencies_ms, 0.50),
        "p95": _support.percentile(latencies_ms, 0.95),
        "p99": _support.percentile(latencies_ms, 0.99),
        "max": max(latencies_ms),
    }


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


# ---- ingest --------------------------------------------------------------------------------------


def measure_ingest(fleet: Fleet, pool: Path, script: Path, args: argparse.Namespace, machine_pids: list[int]):
    sidecars = fleet.sidecars
    # One wrk per replica, each from its own epoch of job ids, so no two of them send the same job.
    threads = 2 if len(sidecars) == 1 else 1
    connections = max(threads, args.connections // len(sidecars))

    def load(seconds: float, epoch: int) -> list[dict[str, float]]:
        def run(index: int) -> dict[str, float]:
            return bench_ingest.run_wrk(
                sidecars[index].url, pool, epoch + 1000 * index, seconds, threads, connections, script, None
            )

        with ThreadPoolExecutor(len(sidecars)) as pool_:
            return list(pool_.map(run, range(len(sidecars))))

    if args.warmup > 0:
        load(args.warmup, 1)
    read0, written0 = fleet.bus_events() if fleet.on_bus else ([0.0], 0.0)
    profilers = [
        _support.Profiler(sidecar.pid, profile_prefix(args.profile_dir, fleet, index), args.duration - 1, None).start()
        for index, sidecar in enumerate(sidecars)
        if args.profile_dir is not None
    ]
    meter = _support.CpuMeter([sidecar.pid for sidecar in sidecars] + machine_pids).start()
    machine = _support.SystemCpu().start()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    results = load(args.duration, 100_000)
    loaded = time.monotonic() - started
    for profiler in profilers:
        profiler.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu_s = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    answered = sum(result["requests"] for result in results) * args.batch
    errors = sum(int(result[k]) for result in results for k in ("connect", "read", "write", "status", "timeout"))
    if fleet.on_bus:
        deadline = time.monotonic() + args.drain_timeout
        while True:
            read, written = fleet.bus_events()
            if min(read) >= written or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        folded = [now - before for now, before in zip(read, read0, strict=True)]
        drained = min(read) >= written
    else:
        elapsed, folded, drained, written, written0 = loaded, [answered], True, answered, 0.0
    cpu = meter.stop()
    sidecar_cpu = cpu[: len(sidecars)]
    per_cpu_s = [events / (percent / 100 * elapsed) for events, percent in zip(folded, sidecar_cpu, strict=True)]
    return {
        "answered_per_s": answered / loaded,
        "events_per_s": min(folded) / elapsed,
        "catch_up_s": elapsed - loaded,
        "drained": drained,
        "written": written - written0,
        "sidecar_cpu": sum(sidecar_cpu),
        "sidecar_cpu_each": sidecar_cpu,
        "servers_cpu": sum(cpu[len(sidecars) :]),
        "wrk_cpu": 100 * wrk_cpu_s / elapsed,
        "other_cpu": max(0.0, machine.stop() - sum(cpu) - 100 * wrk_cpu_s / elapsed),
        "ceiling": min(per_cpu_s),
        "errors": errors,
    }


# ---- one case ------------------------------------------------------------------------------------


def run_case(
    replicas: int,
    args: argparse.Namespace,
    workdir: Path,
    servers: tuple[PostgresServer, RedisServer],
    pool: Path,
    script: Path,
    progress: _support.Progress,
) -> dict[str, Any]:
    """One case on fresh sidecars; repeated when other processes took CPU meanwhile."""
    for attempt in range(args.retries + 1):
        result = _run_case_once(replicas, args, workdir, servers, pool, script, progress)
        if result["ingest"]["other_cpu"] < OTHER_CPU_LIMIT:
            break
        if attempt < args.retries:
            other = result["ingest"]["other_cpu"]
            progress(f"{label(replicas)}: other processes used {other:.0f}% of a core meanwhile; repeating")
    return result


def _run_case_once(replicas, args, workdir, servers, pool, script, progress) -> dict[str, Any]:
    postgres, redis = servers
    _support.wait_until_quiet(progress, args.wait_quiet)
    name = label(replicas)
    progress(f"{name}: starting {max(1, replicas)} sidecar(s)")
    with Fleet(replicas, workdir, postgres, redis) as fleet:
        progress(f"{name}: latency, probe every {args.probe_interval * 1000:g} ms for {args.latency_duration:g} s")
        latency = asyncio.run(measure_latency(fleet, args, seed=replicas))
        progress(f"{name}: ingest, {args.warmup:g} s warm-up, {args.duration:g} s measured")
        machine_pids = postgres_pids(postgres) + ([redis.process.pid] if fleet.on_bus and redis.process else [])
        ingest = measure_ingest(fleet, pool, script, args, machine_pids)
    return {"replicas": replicas, "latency": latency, "ingest": ingest}


# ---- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", default="1,2,4", help="fleet sizes, comma-separated (default 1,2,4)")
    parser.add_argument("--batch", type=int, default=100, help="records per ingest request (default 100)")
    parser.add_argument("--duration", type=float, default=8, help="measured ingest seconds per case (default 8)")
    parser.add_argument("--warmup", type=float, default=2, help="ingest warm-up seconds per case (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections over all replicas (default 32)")
    parser.add_argument("--pool-records", type=int, default=60_000, help="distinct records per wrk thread set")
    parser.add_argument(
        "--drain-timeout", type=float, default=120, help="longest wait for every replica to fold it all (default 120)"
    )
    parser.add_argument("--latency-duration", type=float, default=8, help="seconds of latency probing (default 8)")
    parser.add_argument("--probe-interval", type=float, default=0.02, help="s between probe records (default 0.02)")
    parser.add_argument(
        "--background", type=float, default=2000, help="background records/s during the latency probe (default 2000)"
    )
    parser.add_argument(
        "--background-interval", type=float, default=0.02, help="s between background requests (default 0.02)"
    )
    _support.add_quiet_options(parser, OTHER_CPU_LIMIT, retries=1)
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy each sidecar during the measured ingest, stacks into DIR"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 replicas against the embedded process, 1 s each, no warm-up"
    )
    _support.add_json_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.replicas, args.duration, args.warmup, args.latency_duration = "2", 1, 0, 0.5
        args.pool_records, args.drain_timeout, args.wait_quiet, args.retries = 3_000, 20, 0.0, 0
    args.fleet_sizes = [int(n) for n in args.replicas.split(",")]
    args.profile_dir = Path(args.profile).resolve() if args.profile else None
    if args.profile_dir is not None:
        if not _support.Profiler.available():
            raise SystemExit("--profile needs py-spy: pip install py-spy")
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    return args


def start_servers(workdir: Path) -> tuple[PostgresServer, RedisServer]:
    bin_dir = find_bin_dir()
    redis_binary = shutil.which("redis-server")
    if bin_dir is None or redis_binary is None or shutil.which("wrk") is None:
        raise SystemExit(
            "needs PostgreSQL, redis-server and wrk: "
            "apt-get install -y --no-install-recommends postgresql redis-server wrk"
        )
    results: dict[str, Any] = {}
    # initdb is the slow part: Redis starts meanwhile.
    postgres = threading.Thread(target=lambda: results.update(postgres=PostgresServer(bin_dir).start()))
    postgres.start()
    redis = RedisServer(workdir / "redis", redis_binary).start()
    postgres.join()
    if "postgres" not in results:
        redis.stop()
        raise SystemExit("PostgreSQL did not start (traceback above)")
    return results["postgres"], redis


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    progress = _support.Progress()
    failures = _support.Failures(progress)
    results: dict[int, dict[str, Any]] = {}
    with _support.temp_workdir("jobpulse-bench-replicas-") as workdir:
        progress("starting PostgreSQL and redis-server")
        postgres, redis = start_servers(workdir)
        try:
            script = workdir / "otlp.lua"
            script.write_text(bench_ingest.LUA)
            pool = workdir / "pool"
            progress(f"generating {args.pool_records:,} distinct records in batches of {args.batch}")
            bench_ingest.generate_pool(pool, args.batch, 2, args.pool_records, 200, seed=7)
            for replicas in [EMBEDDED, *args.fleet_sizes]:
                result = failures.run(
                    label(replicas), run_case, replicas, args, workdir, (postgres, redis), pool, script, progress
                )
                if result is not None:
                    results[replicas] = result
        finally:
            redis.stop()
            postgres.stop()
    report(results, args)
    if args.profile_dir is not None:
        print_profiles(args.profile_dir)
    failures.exit_if_any()


def summary_row(
    replicas: int, metric: str, value: float, baseline: float, unit: str = "events/s", **verdict: Any
) -> _support.SummaryRow:
    """A row of the summary; the embedded case is the baseline, so it has no ratio and no verdict."""
    bus = replicas != EMBEDDED
    return _support.SummaryRow(
        bench="replicas",
        metric=f"{metric}, {label(replicas)}",
        value=value,
        unit=unit,
        baseline=baseline if bus else None,
        **(verdict if bus else {}),
    )


def report(results: dict[int, dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(f"Machine: {_support.machine_line()}")
    print(
        "Nothing pinned: sidecars, wrk, redis-server and PostgreSQL share every core. "
        f"Ingest: one wrk per replica, {args.connections} connections in all, {args.batch} records per request, "
        f"{args.warmup:g} s warm-up, {args.duration:g} s measured, then until every replica folded everything."
    )
    print(
        f"Latency: a probe record every {args.probe_interval * 1000:g} ms to the first replica, "
        f"{args.background:g} background records/s over all of them, the client on the last; "
        f"{args.latency_duration:g} s."
    )
    base = results.get(EMBEDDED)
    base_rate = base["ingest"]["events_per_s"] if base else float("nan")
    base_ceiling = base["ingest"]["ceiling"] if base else float("nan")
    base_p99 = base["latency"]["p99"] if base else float("nan")
    rows = []
    for replicas, r in results.items():
        ingest = r["ingest"]
        rows.append(
            (
                label(replicas),
                round(ingest["answered_per_s"]),
                round(ingest["events_per_s"]),
                f"{ingest['events_per_s'] / base_rate:.2f}x",
                f"{ingest['catch_up_s']:.1f}" + ("" if ingest["drained"] else " (not drained)"),
                f"{ingest['sidecar_cpu']:.0f}%",
                " / ".join(f"{cpu:.0f}" for cpu in ingest["sidecar_cpu_each"]),
                f"{ingest['servers_cpu']:.0f}%",
                f"{ingest['wrk_cpu']:.0f}%",
                f"{ingest['other_cpu']:.0f}%",
                round(ingest["ceiling"]),
                f"{ingest['ceiling'] / base_ceiling:.2f}x",
                ingest["errors"],
            )
        )
    _support.print_table(
        [
            "case",
            "answered events/s",
            "folded by all events/s",
            "vs embedded",
            "catch-up s",
            "sidecars CPU",
            "each %",
            "redis+pg CPU",
            "wrk CPU",
            "other CPU",
            "ceiling events/s",
            "ceiling vs embedded",
            "errors",
        ],
        rows,
        "Ingest (CPU in % of one core; ceiling = the lowest replica's events folded per CPU-second)",
        left=1,
    )
    _support.print_table(
        ["case", "samples", "p50 ms", "p95 ms", "p99 ms", "max ms", "p99 vs embedded"],
        [
            (
                label(replicas),
                r["latency"]["samples"],
                f"{r['latency']['p50']:.1f}",
                f"{r['latency']['p95']:.1f}",
                f"{r['latency']['p99']:.1f}",
                f"{r['latency']['max']:.1f}",
                f"{r['latency']['p99'] / base_p99:.2f}x",
            )
            for replicas, r in results.items()
        ],
        "Job -> client latency (request sent -> WebSocket receipt; the probe sends to the first replica, the client "
        "watches the last)",
        left=1,
    )
    busiest = max((r["ingest"]["other_cpu"] for r in results.values()), default=0.0)
    if busiest >= OTHER_CPU_LIMIT:
        print(f"WARNING: other processes used up to {busiest:.0f}% of a core during a measurement")
    rows_out = []
    for replicas, r in results.items():
        ceiling, target = r["ingest"]["ceiling"], SCALING * max(1, replicas)
        rows_out += [
            summary_row(replicas, "ingest events/s folded by every replica", r["ingest"]["events_per_s"], base_rate),
            summary_row(
                replicas,
                "fleet ceiling at a core per replica",
                ceiling,
                base_ceiling,
                target=f">= {target:g}x (grows with replicas)",
                meets=ceiling >= target * base_ceiling,
            ),
            summary_row(replicas, "job -> client p99 across replicas", r["latency"]["p99"], base_p99, unit="ms"),
        ]
    _support.write_summary(args.json, rows_out)


if __name__ == "__main__":
    main()
