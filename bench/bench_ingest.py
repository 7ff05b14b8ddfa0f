"""Ingest: OTLP/HTTP protobuf log records per second into one sidecar process, against a bare endpoint.

    python bench/bench_ingest.py            # batches of 1, 10 and 100 records, 2 s warm-up + 8 s each
    python bench/bench_ingest.py --quick    # smoke run: batches of 10 records, 1 s

The baseline, measured in the same run, is a bare Litestar endpoint started the same way (uvicorn,
one process, the sidecar's own uvicorn options) whose POST /v1/logs only does
``ExportLogsServiceRequest().ParseFromString(body)`` and returns an empty response. Targets: sidecar
records/s >= 0.7 x the bare endpoint's at 1 record per request and >= 0.15 x at 100; and more
records/s than a Prometheus Pushgateway (when ``prometheus-pushgateway`` is installed) given the same
job updates, one push per OTLP body (see `push_pool`). Every server runs on the same core; the
"events per server CPU-s" column divides by the CPU the server used, which contention for that core
does not change.

Load: ``wrk`` (keep-alive, C) with a Lua script that sends pre-generated request bodies, pinned to the
cores the server is not on. The bodies carry the records the real instrumentation sends (progress
with counts and step, start, step, resources, log lines, end; resource and trace ids), for jobs
with unique ids and increasing seqs. When a wrk thread has sent all its bodies it sends them again
with every job id renewed (new jobs, seq from 1), so no payload is ever repeated: the sidecar's
duplicate fast path is never hit. Afterwards GET /api/monitor/ingest must show every record applied
and none rejected.

Each (server, batch) case gets a fresh server. Each figure is printed with its baseline as a ratio.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support
import httpx
import psutil

from tests.support.polling import wait_for
from tests.support.ports import free_port

TARGET_RATIO = 0.7  # sidecar / bare records per second, at 1 record per request
TARGET_RATIO_BATCHED = 0.15  # ... at BATCHED records per request or more
BATCHED = 100
HELPER_START_S = 5.0  # how long after the warm-up the sidecar's writer process may take to appear
OTHER_CPU_LIMIT = 15.0  # % of a core used by other processes during a measurement before it is repeated
JOB_ID_TAIL = "x000000"  # the last 7 characters of every job id; the Lua script renews them
OTLP_PROTOBUF = "application/x-protobuf"
PUSH_TEXT = "text/plain; version=0.0.4"

LUA = r"""
-- Sends pre-generated bodies (one set per wrk thread, files t<N>.bin / t<N>.idx: offset, length and
-- path, /v1/logs when none), with the Content-Type given as the fourth argument.
-- Epoch E rewrites the job-id tail of every body to x<E>: new job ids, so nothing repeats.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function tail(e)
  return string.format("x%06d", e)
end

function init(args)
  local dir, marker = args[1], args[3]
  epoch = tonumber(args[2])
  local f = assert(io.open(dir .. "/t" .. tid .. ".bin", "rb"))
  local data = f:read("*a")
  f:close()
  pieces = {}
  paths = {}
  for line in io.lines(dir .. "/t" .. tid .. ".idx") do
    local off, len, path = line:match("(%d+) (%d+) ?(%S*)")
    paths[#paths + 1] = path ~= "" and path or "/v1/logs"
    local body = data:sub(tonumber(off) + 1, tonumber(off) + tonumber(len))
    local parts, start = {}, 1
    while true do
      local a, b = body:find(marker, start, true)
      if not a then break end
      parts[#parts + 1] = body:sub(start, a - 1)
      start = b + 1
    end
    parts[#parts + 1] = body:sub(start)
    pieces[#pieces + 1] = parts
  end
  headers = {["Content-Type"] = args[4]}
  current = tail(epoch)
  i, sent, wraps = 0, 0, 0
end

function request()
  i = i + 1
  if i > #pieces then
    i, wraps, epoch = 1, wraps + 1, epoch + 1
    current = tail(epoch)
  end
  sent = sent + 1
  return wrk.format("POST", paths[i], headers, table.concat(pieces[i], current))
end

function done(summary, latency, requests)
  local sent_total, wraps_total = 0, 0
  for _, t in ipairs(threads) do
    sent_total = sent_total + t:get("sent")
    wraps_total = wraps_total + t:get("wraps")
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "sent": %d, "wraps": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), sent_total, wraps_total))
end
"""


def generate_pool(
    directory: Path, batch: int, threads: int, records: int, active_jobs: int, seed: int
) -> tuple[int, Counter[str]]:
    """Write one body set per wrk thread; return (bodies written, record kinds)."""
    directory.mkdir(parents=True)
    # A request holds at most one record per job, as a delivery tick does: >= batch jobs per emitter.
    jobs_per_emitter = max(batch, 25)
    emitters_per_thread = max(1, active_jobs // (threads * jobs_per_emitter))
    requests_per_thread = max(1, records // (threads * batch))
    kinds: Counter[str] = Counter()
    bodies = 0
    for thread in range(threads):
        emitters = [
            _support.EmitterSim(
                thread * emitters_per_thread + k,
                jobs_per_emitter,
                seed=seed * 1000 + thread * 10 + k,
                job_id_tail=JOB_ID_TAIL,
            )
            for k in range(emitters_per_thread)
        ]
        offset = 0
        with open(directory / f"t{thread}.bin", "wb") as data, open(directory / f"t{thread}.idx", "w") as index:

            def write(body: bytes) -> None:
                nonlocal offset, bodies
                data.write(body)
                index.write(f"{offset} {len(body)}\n")
                offset += len(body)
                bodies += 1

            for n in range(requests_per_thread):
                write(emitters[n % emitters_per_thread].request(batch))
            # End the jobs still in flight, so each pass over the set leaves no job running forever.
            for emitter in emitters:
                ends = emitter.finish_all()
                for start in range(0, len(ends), batch):
                    write(_support.logs_request(emitter.resource, ends[start : start + batch]))
        for emitter in emitters:
            kinds.update(emitter.kinds)
    return bodies, kinds


class Pushgateway:
    """``prometheus-pushgateway`` on a free loopback port, without persistence, pinned like the sidecar."""

    def __init__(self, workdir: Path, cpus: set[int] | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"pushgateway-{self.port}.log"
        self.cpus = cpus
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Pushgateway:
        cpus = self.cpus
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        wait_for(self._ready, timeout=20.0, interval=0.05)
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"pushgateway exited:\n{self.log.read_text(errors='replace')}")
        try:
            return httpx.get(self.url + "/-/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(10)


def push_pool(pool: Path) -> Path:
    """The OTLP body set of ``pool`` as Pushgateway pushes of the same updates, beside it.

    Each OTLP body becomes one push (POST) to the group of the process that sent it
    (``/metrics/job/jobpulse/instance/<host>``): per record, the job's last seq, and its processed and
    failed counts when the record carries them, as gauges labelled with the job id (which the Lua
    script renews like the OTLP job ids).
    """
    from jobpulse.sidecar.ingest.records import events_of_protobuf
    from jobpulse.sidecar.model.events import JobEvent

    target = pool.with_name(pool.name + "-push")
    target.mkdir()
    for index in pool.glob("t*.idx"):
        data = (pool / f"{index.stem}.bin").read_bytes()
        offset = 0
        with open(target / f"{index.stem}.bin", "wb") as out, open(target / index.name, "w") as out_index:
            for line in index.read_text().splitlines():
                start, length = (int(field) for field in line.split())
                events = [e for e in events_of_protobuf(data[start : start + length], 0) if isinstance(e, JobEvent)]
                families: dict[str, list[str]] = {"seq": [], "processed": [], "failed": []}
                for event in events:
                    for family, value in (("seq", event.seq), ("processed", event.processed), ("failed", event.failed)):
                        if value is not None:
                            families[family].append(f'jobpulse_job_{family}{{job_id="{event.job_id}"}} {value}\n')
                body = "".join(line for lines in families.values() for line in lines).encode()
                out.write(body)
                out_index.write(f"{offset} {len(body)} /metrics/job/jobpulse/instance/{events[0].host}\n")
                offset += len(body)
    return target


def run_wrk(
    url: str,
    pool: Path,
    epoch: int,
    seconds: float,
    threads: int,
    connections: int,
    script: Path,
    cpus: set[int] | None,
    content_type: str = OTLP_PROTOBUF,
) -> dict[str, float]:
    """One wrk run; returns its RESULT line plus the CPU wrk used (% of one core)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
            "--",
            str(pool),
            str(epoch),
            JOB_ID_TAIL,
            content_type,
        ],
        capture_output=True,
        text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{process.stdout}\n{process.stderr}")
    result = json.loads(lines[-1][len("RESULT ") :])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["wrk_cpu_percent"] = 100.0 * cpu / (result["duration_us"] / 1e6)
    return result


def run_case(
    kind: str,
    batch: int,
    pool: Path,
    args: argparse.Namespace,
    workdir: Path,
    script: Path,
    progress: _support.Progress,
    profile_dir: Path | None,
) -> dict[str, float]:
    """One (server, batch) case on a fresh server; repeated when other processes took CPU meanwhile."""
    for attempt in range(args.retries + 1):
        row = _run_case_once(kind, batch, pool, args, workdir, script, progress, profile_dir)
        if row["other_cpu"] < OTHER_CPU_LIMIT or profile_dir is not None:
            break
        if attempt < args.retries:
            progress(
                f"{kind}, batch {batch}: other processes used {row['other_cpu']:.0f}% of a core meanwhile; repeating"
            )
    return row


def _run_case_once(
    kind: str,
    batch: int,
    pool: Path,
    args: argparse.Namespace,
    workdir: Path,
    script: Path,
    progress: _support.Progress,
    profile_dir: Path | None,
) -> dict[str, float]:
    server_cpus, load_cpus = _support.cpu_plan(not args.no_pin)
    content_type = PUSH_TEXT if kind == "pushgateway" else OTLP_PROTOBUF
    if kind == "pushgateway":
        server: Any = Pushgateway(workdir, server_cpus)
        pool = pool.with_name(pool.name + "-push")
    elif kind == "sidecar":
        server = _support.sidecar_process(workdir, server_cpus, **dict(args.setting))
    else:
        server = _support.bare_endpoint_process(workdir, server_cpus)
    _support.wait_until_quiet(progress, args.wait_quiet)
    progress(f"{kind}, batch {batch}: starting server")
    with server:
        warm = {"sent": 0, "requests": 0, "status": 0}
        if args.warmup > 0:
            progress(f"{kind}, batch {batch}: warm-up {args.warmup:g} s")
            warm = run_wrk(
                server.url, pool, 1, args.warmup, args.threads, args.connections, script, load_cpus, content_type
            )
        progress(f"{kind}, batch {batch}: measuring {args.duration:g} s")
        # The sidecar's own processes (its history writer, once started) are not the server's event
        # loop: they run on any core, as they would unpinned, and their CPU is reported apart.
        writer = dict(args.setting).get("history_writer_process", "never") != "never"
        helpers = _helpers(psutil.Process(server.pid)) if kind == "sidecar" and writer else []
        for helper in helpers:
            os.sched_setaffinity(helper.pid, os.sched_getaffinity(0))
        meter = _support.CpuMeter([server.pid, *(helper.pid for helper in helpers)]).start()
        machine = _support.SystemCpu().start()
        profiler = None
        if profile_dir is not None and kind == "sidecar":
            profiler = _support.Profiler(
                server.pid, profile_dir / f"ingest-sidecar-batch{batch}", args.duration - 1, load_cpus
            ).start()
        result = run_wrk(
            server.url, pool, 100_000, args.duration, args.threads, args.connections, script, load_cpus, content_type
        )
        server_cpu, *helper_cpus = meter.stop()
        machine_cpu = machine.stop()
        if profiler is not None:
            profiler.wait()
        seconds = result["duration_us"] / 1e6
        errors = sum(int(result[k]) for k in ("connect", "read", "write", "status", "timeout"))
        row = {
            "requests_per_s": result["requests"] / seconds,
            # every body holds `batch` records but the few closing ones (end records): < 0.1% over
            "events_per_s": result["requests"] * batch / seconds,
            "p50_ms": result["p50_us"] / 1000,
            "p99_ms": result["p99_us"] / 1000,
            "server_cpu": server_cpu,
            "helper_cpu": sum(helper_cpus),
            # records per second of the server's own CPU: what contention for its core does not change
            "events_per_cpu_s": result["requests"] * batch / seconds / max(server_cpu / 100, 1e-9),
            "wrk_cpu": result["wrk_cpu_percent"],
            # what neither the server nor wrk used (other processes, this script, py-spy)
            "other_cpu": max(0.0, machine_cpu - server_cpu - sum(helper_cpus) - result["wrk_cpu_percent"]),
            "errors": errors + warm["status"],
            "wraps": result["wraps"],
            "sent_requests": warm["sent"] + result["sent"],
            "completed_requests": warm["requests"] + result["requests"],
        }
        if kind == "sidecar":
            row["ingest"] = server.get_json("/api/monitor/ingest")
    return row


def _helpers(server: psutil.Process) -> list[psutil.Process]:
    """The sidecar's child processes, given a few seconds to start (with history_writer_process = auto
    the writer starts once the load is heavy enough); none when it keeps writing itself."""
    try:
        wait_for(server.children, timeout=HELPER_START_S)
    except AssertionError:
        return []
    return server.children(recursive=True)


def ratio_verdict(kind: str, batch: int, row: dict, results: dict[str, dict]) -> str:
    """The table's last column: each server's records/s against the bare endpoint's, and the target."""
    ratio = row["events_per_s"] / results["bare"]["events_per_s"]
    if kind == "bare":
        return "1.00x (baseline)"
    if kind == "pushgateway":
        ahead = results["sidecar"]["events_per_s"] > row["events_per_s"]
        return f"{ratio:.2f}x (sidecar {'ahead' if ahead else 'BEHIND'})"
    target = target_ratio(batch)
    if target is None:
        return f"{ratio:.2f}x"
    return f"{ratio:.2f}x {'meets' if ratio >= target else 'MISSES'} >= {target}x"


def check_ingest(row: dict, batch: int) -> str:
    """Did the sidecar really apply what was sent? A verdict line (raises on a real failure)."""
    ingest = row["ingest"]
    problems = []
    if ingest["records_rejected"] or ingest["requests_rejected"]:
        problems.append(f"{ingest['records_rejected']} records / {ingest['requests_rejected']} requests rejected")
    if ingest["records_applied"] != ingest["records"]:
        problems.append(f"only {ingest['records_applied']:,} of {ingest['records']:,} records changed state")
    if ingest["requests"] < row["completed_requests"]:
        problems.append(f"{ingest['requests']:,} requests counted < {row['completed_requests']:,} answered to wrk")
    verdict = (
        f"batch {batch}: sidecar counted {ingest['requests']:,} requests, {ingest['records']:,} records, "
        f"applied {ingest['records_applied']:,}, rejected {ingest['records_rejected']}, "
        f"ignored {ingest['records_ignored']}, jobs in memory {ingest['jobs_in_memory']:,}"
    )
    if problems:
        raise SystemExit(verdict + "\nFAILED: " + "; ".join(problems))
    return verdict + ": ok"


def measure_stages(
    records: int, workdir: Path, cpus: set[int] | None
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Per-record cost of each ingest stage in this process (no HTTP), batches of 100 realistic records.

    Returns (stages, listeners): (name, microseconds per record). Stages are best of 2-3 runs, in CPU
    time of this thread (other processes on a shared core stretch wall time, not this); the
    whole-ingest stages run on one real create_app() (the same wiring as the server), each run with
    records of new jobs (a replay would take the duplicate fast path); listeners are that app's
    JobStore listeners, timed one by one during one more such run.
    """
    import os

    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from jobpulse.sidecar.app import create_app
    from jobpulse.sidecar.feed.plugin import FeedFeature
    from jobpulse.sidecar.ingest import otlp_codec as codec
    from jobpulse.sidecar.ingest.plugin import IngestFeature
    from jobpulse.sidecar.ingest.records import events_of_protobuf
    from jobpulse.sidecar.settings import Settings
    from jobpulse.sidecar.store import JobStore

    requests = max(1, records // 100)
    n = requests * 100

    def body_set(seed: int) -> list[bytes]:
        emitters = [_support.EmitterSim(k, 100, seed=seed * 100 + k) for k in range(4)]
        return [emitters[i % 4].request(100) for i in range(requests)]

    bodies = body_set(0)
    fresh = iter([body_set(seed) for seed in range(1, 6)])
    events = [event for body in bodies for event in events_of_protobuf(body, time.time_ns())]
    previous_affinity = os.sched_getaffinity(0)
    previous_cwd = os.getcwd()
    root = logging.getLogger()
    previous_logging = (root.level, list(root.handlers))  # create_app() sets up the sidecar's logging
    app_dir = workdir / "stages"
    app_dir.mkdir()
    os.chdir(app_dir)  # create_app() may keep its database in the working directory
    _support.pin(cpus)
    try:

        def best(run: Callable[[], object], repeat: int = 3) -> float:
            fastest = float("inf")
            for _ in range(repeat):
                started = time.thread_time()
                run()
                fastest = min(fastest, time.thread_time() - started)
            return fastest / n * 1e6

        def parse() -> None:
            for body in bodies:
                ExportLogsServiceRequest().ParseFromString(body)

        def decode_to_event() -> None:
            now = time.time_ns()
            for body in bodies:
                events_of_protobuf(body, now)

        def fold_only() -> None:
            store = JobStore()
            for event in events:
                store.apply(event)

        app = create_app(Settings())
        ingestor, hub = app.plugins.get(IngestFeature).ingestor, app.plugins.get(FeedFeature).hub
        store = ingestor.store

        def ingest(flush: bool) -> Callable[[], None]:
            def run() -> None:
                for i, body in enumerate(next(fresh)):
                    ingestor.ingest_logs(codec.PROTOBUF, body)
                    if flush and i % 2:
                        hub.flush()  # one feed tick per 200 records
                hub.flush()

            return run

        hub.flush()
        stages = [
            ("protobuf parse only (what the bare endpoint does)", best(parse)),
            ("+ records -> JobEvents, one pass (records.events_of_protobuf)", best(decode_to_event)),
            ("JobStore.apply alone, no listeners (fold.py)", best(fold_only)),
            ("Ingestor.ingest_logs, all listeners of create_app()", best(ingest(False), 2)),
            ("+ feed flush every 200 records (render, encode)", best(ingest(True), 2)),
        ]

        spent: dict[str, int] = {}

        def timed(name: str, listener: Callable[[Any], None]) -> Callable[[Any], None]:
            def run(change: Any) -> None:
                started = time.perf_counter_ns()
                listener(change)
                spent[name] = spent.get(name, 0) + time.perf_counter_ns() - started

            return run

        for name, listener in store.listeners():
            store.remove_listener(listener)
            store.add_listener(timed(name, listener), name)
        for body in next(fresh):
            ingestor.ingest_logs(codec.PROTOBUF, body)
        listeners = [(name, ns / n / 1000) for name, ns in sorted(spent.items(), key=lambda item: -item[1])]
    finally:
        os.chdir(previous_cwd)
        os.sched_setaffinity(0, previous_affinity)
        root.setLevel(previous_logging[0])
        root.handlers[:] = previous_logging[1]
    return stages, listeners


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", default="1,10,100", help="records per request, comma-separated (default 1,10,100)")
    parser.add_argument("--duration", type=int, default=8, help="measured seconds per case (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per case (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk keep-alive connections (default 32)")
    parser.add_argument(
        "--pool-records",
        type=int,
        default=60_000,
        help="distinct records generated per batch size before ids are renewed (default 60000)",
    )
    parser.add_argument(
        "--active-jobs",
        type=int,
        default=200,
        help="jobs in flight in the generated load, at least 2 x batch (default 200)",
    )
    parser.add_argument(
        "--stage-records",
        type=int,
        default=20_000,
        help="records for the in-process cost-by-stage table (default 20000)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and wrk to separate cores")
    _support.add_quiet_options(parser, OTHER_CPU_LIMIT, retries=2)
    parser.add_argument(
        "--setting",
        metavar="KEY=VALUE",
        action="append",
        type=lambda text: tuple(text.split("=", 1)),
        default=[],
        help="a sidecar setting for the sidecar cases (repeatable), e.g. history_writer_process=never",
    )
    parser.add_argument("--profile", metavar="DIR", help="py-spy the sidecar during each measured run, stacks into DIR")
    parser.add_argument("--quick", action="store_true", help="smoke run: batches of 10, no warm-up, 1 s, no pinning")
    _support.add_json_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.duration, args.warmup, args.pool_records = "10", 1, 0, 6_000
        args.wait_quiet, args.retries, args.stage_records, args.no_pin = 0.0, 0, 1_000, True
    args.batch_sizes = [int(b) for b in args.batches.split(",")]
    return args


def target_ratio(batch: int) -> float | None:
    """The share of the bare endpoint's rate the sidecar must reach at ``batch`` records per request."""
    return TARGET_RATIO if batch == 1 else TARGET_RATIO_BATCHED if batch >= BATCHED else None


def summary_row(batch: int, results: dict[str, Any]) -> _support.SummaryRow:
    """The sidecar's events/s at ``batch`` records per request against the bare endpoint's, with the
    target that batch size has (none between 1 and BATCHED)."""
    target = target_ratio(batch)
    sidecar, bare = results["sidecar"]["events_per_s"], results["bare"]["events_per_s"]
    return _support.SummaryRow(
        bench="ingest",
        metric=f"events/s, {batch} records/request (vs the bare endpoint)",
        value=sidecar,
        unit="events/s",
        baseline=bare,
        target=None if target is None else f">= {target}x",
        meets=None if target is None else sidecar >= target * bare,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y --no-install-recommends wrk")
    progress = _support.Progress()
    failures = _support.Failures(progress)
    server_cpus, load_cpus = _support.cpu_plan(not args.no_pin)
    profile_dir = Path(args.profile).resolve() if args.profile else None
    if profile_dir is not None:
        if not _support.Profiler.available():
            raise SystemExit("--profile needs py-spy: pip install py-spy")
        profile_dir.mkdir(parents=True, exist_ok=True)
    progress("checking the OTLP encoder against protobuf and the sidecar's decoder")
    _support.check_encoder()

    rows = []
    with _support.temp_workdir("jobpulse-bench-ingest-") as workdir:
        progress(f"in-process cost per record by stage ({args.stage_records:,} records, pinned like the server)")
        stages, listeners = measure_stages(args.stage_records, workdir, server_cpus)
        script = workdir / "otlp.lua"
        script.write_text(LUA)
        verdicts = []
        for batch in args.batch_sizes:
            pool = workdir / f"pool-{batch}"
            progress(f"batch {batch}: generating {args.pool_records:,} distinct records for {args.threads} wrk threads")
            bodies, kinds = generate_pool(pool, batch, args.threads, args.pool_records, args.active_jobs, seed=batch)
            size = sum(f.stat().st_size for f in pool.glob("*.bin"))
            kinds_run = ["bare", "sidecar"]
            if shutil.which("prometheus-pushgateway"):
                push_pool(pool)
                kinds_run.append("pushgateway")
            else:
                progress("prometheus-pushgateway is not installed: no Pushgateway comparison")
            results = {
                kind: failures.run(
                    f"{kind}, batch {batch}", run_case, kind, batch, pool, args, workdir, script, progress, profile_dir
                )
                for kind in kinds_run
            }
            shutil.rmtree(pool)
            shutil.rmtree(pool.with_name(pool.name + "-push"), ignore_errors=True)
            if None in results.values():
                continue
            verdicts.append(check_ingest(results["sidecar"], batch))
            rows.append((batch, bodies, size / max(1, sum(kinds.values())), _support.record_mix(kinds), results))

    print()
    print(f"Machine: {_support.machine_line()}")
    print(
        f"Load: wrk, {args.threads} threads, {args.connections} keep-alive connections; "
        f"{_support.describe_plan(server_cpus, load_cpus)}"
    )
    print(
        f"Each case: fresh server, {args.warmup:g} s warm-up, then {args.duration:g} s measured. "
        f"Targets: sidecar >= {TARGET_RATIO}x bare at 1 record/request, >= {TARGET_RATIO_BATCHED}x at "
        f"{BATCHED} or more, and more records/s than the Pushgateway given the same updates."
    )
    print(
        "CPU columns: % of one core during the measured run; 'writer CPU' is the sidecar's history writer process "
        "(on any core); 'other CPU' is what the rest of the machine used."
    )
    for batch, bodies, record_size, mix, _ in rows:
        print(f"batch {batch}: {bodies:,} distinct bodies, {record_size:.0f} bytes per record on the wire; mix: {mix}")
    table = []
    for batch, _, _, _, results in rows:
        for kind, r in results.items():
            table.append(
                (
                    batch,
                    "bare endpoint" if kind == "bare" else kind,
                    round(r["requests_per_s"]),
                    round(r["events_per_s"]),
                    f"{r['p50_ms']:.2f}",
                    f"{r['p99_ms']:.2f}",
                    f"{r['server_cpu']:.0f}%",
                    f"{r['helper_cpu']:.0f}%",
                    round(r["events_per_cpu_s"]),
                    f"{r['wrk_cpu']:.0f}%",
                    f"{r['other_cpu']:.0f}%",
                    r["errors"],
                    ratio_verdict(kind, batch, r, results),
                )
            )
    _support.print_table(
        [
            "batch",
            "server",
            "requests/s",
            "events/s",
            "p50 ms",
            "p99 ms",
            "server CPU",
            "writer CPU",
            "events per server CPU-s",
            "wrk CPU",
            "other CPU",
            "errors",
            "vs bare (target)",
        ],
        table,
        "Ingest throughput (events/s = records/s; latency as seen by wrk)",
    )
    print()
    for verdict in verdicts:
        print(verdict)
    parse_us = stages[0][1]
    _support.print_table(
        ["stage (batches of 100 records, in process, no HTTP)", "us/record", "records/s on one core", "vs parse only"],
        [(name, f"{us:.2f}", round(1e6 / us), f"{us / parse_us:.1f}x") for name, us in stages],
        "Where the sidecar's per-record time goes (cumulative stages; JobStore.apply measured alone)",
    )
    _support.print_table(
        ["JobStore listener", "us/record"],
        [(name, f"{us:.2f}") for name, us in listeners],
        "Cost of each JobStore listener during Ingestor.ingest_logs (per record applied)",
    )
    busiest = max((r["other_cpu"] for *_, results in rows for r in results.values()), default=0.0)
    if busiest >= OTHER_CPU_LIMIT:
        print(
            f"WARNING: other processes used up to {busiest:.0f}% of a core during a measurement: "
            "rerun on a quiet machine"
        )
    for _, _, _, _, results in rows:
        if results["sidecar"]["wraps"] or results["bare"]["wraps"]:
            print("note: some wrk threads went through their body set more than once (job ids renewed each time)")
            break
    if profile_dir is not None:
        for batch in args.batch_sizes:
            raw = profile_dir / f"ingest-sidecar-batch{batch}.txt"
            if raw.exists():
                _support.print_profile(raw, f"py-spy, sidecar, batch {batch}")
    _support.write_summary(args.json, [summary_row(batch, results) for batch, *_, results in rows])
    failures.exit_if_any()


if __name__ == "__main__":
    main()
