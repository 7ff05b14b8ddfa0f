"""Helpers shared by the bench scripts (not a benchmark itself).

- progress lines and tables (`Progress`, `print_table`);
- the summary rows every script writes with ``--json PATH`` and ``python -m bench`` reads (`SummaryRow`,
  `add_json_option`, `write_summary`), and `Failures`, which lets a script's other cases finish when one fails;
- the CPU plan on this machine (server on the first core, load generators on the others) and
  `pin()`, `CpuMeter`, `raise_nofile()`;
- `ServerProcess`: the sidecar, or the bare Litestar endpoint the ingest benchmark compares it to,
  started the same way (uvicorn, one process, same options) on a free loopback port in a temp dir;
- a fast, hand-rolled OTLP/HTTP protobuf encoder and `JobSim` / `EmitterSim`, which produce the
  records the real instrumentation sends (checked against the official protobuf classes and the
  sidecar's own decoder by `check_encoder()`);
- `py-spy` profiling of a server and a per-function summary of the samples.

Run as ``python bench/_support.py bare-endpoint`` it serves the bare endpoint (settings from the
same JOBPULSE_* variables as the sidecar).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import math
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import psutil

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # reuse tests/support (free ports, polling)
    sys.path.insert(0, str(REPO))

from tests.support.ports import free_port  # noqa: E402
from tests.support.sidecar import SidecarProcess  # noqa: E402

LOOPBACK = "127.0.0.1"
PROTOBUF = "application/x-protobuf"

T = TypeVar("T")

# ---- output ---------------------------------------------------------------------------------------


class Progress:
    """One line per phase, with the time since the script started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {text}", flush=True)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None, left: int = 0) -> None:
    """A plain text table, right-aligned but for the first ``left`` columns (labels); also easy to paste into
    Markdown."""
    text_rows = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text_rows)) if text_rows else len(h) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in text_rows:
        cells = (c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class SummaryRow(msgspec.Struct, kw_only=True):
    """One figure of a benchmark's summary: what ``--json PATH`` writes (a JSON list of these) and
    ``python -m bench`` collects into one table.

    ``bench`` is the script's name without ``bench_``; ``ratio`` is ``value / baseline`` (filled in when
    a baseline is given; a NaN baseline, one that could not be measured, counts as none); ``meets`` is
    None when the figure has no target.
    """

    bench: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    target: str | None = None
    meets: bool | None = None

    def __post_init__(self) -> None:
        if self.baseline is not None and math.isnan(self.baseline):
            self.baseline = None
        if self.ratio is None and self.baseline:
            self.ratio = self.value / self.baseline


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the summary rows to PATH as JSON")


def add_quiet_options(parser: argparse.ArgumentParser, other_cpu_limit: float, retries: int) -> None:
    """``--wait-quiet`` and ``--retries``: how a script copes with other processes on a shared machine."""
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=60.0,
        help="before each case wait up to this many s for other processes to calm down (default 60)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=retries,
        help=f"repeat a case when other processes used > {other_cpu_limit:g}%% of a core meanwhile (default {retries})",
    )


def write_summary(path: Path | None, rows: Sequence[SummaryRow]) -> None:
    """Write ``rows`` to ``path`` (nothing when ``path`` is None)."""
    if path is not None:
        path.write_bytes(msgspec.json.format(msgspec.json.encode(list(rows)), indent=1))


class Failures:
    """Cases that raised, so that one failing case does not take the others' results with it.

    `run` prints a failing case's traceback and returns None; the script goes on with the other cases,
    prints and writes what they measured, then `exit_if_any` ends it with a non-zero status.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.failed: list[str] = []

    def run(self, case: str, measure: Callable[..., T], *args: Any) -> T | None:
        try:
            return measure(*args)
        except Exception:
            traceback.print_exc()
            self.failed.append(case)
            self.progress(f"{case}: FAILED (traceback above); going on with the other cases")
            return None

    def exit_if_any(self) -> None:
        if self.failed:
            raise SystemExit(f"{len(self.failed)} case(s) failed: {'; '.join(self.failed)}")


def machine_line() -> str:
    import platform

    cpus = os.cpu_count()
    memory = psutil.virtual_memory().total / 2**30
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{python}, {cpus} cores, {memory:.0f} GiB, {platform.platform()}"


def warn_if_busy(progress: Progress, threshold: float = 15.0) -> float:
    """Sample the machine for 1 s; warn (and name the busiest processes) when something else is running.

    Benchmarks on a shared 2-core machine are only worth their numbers when nothing else runs.
    Returns the busy percentage of all cores.
    """
    processes = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            process.cpu_percent(None)
            processes.append(process)
    busy = psutil.cpu_percent(interval=1.0)
    if busy >= threshold:
        me = os.getpid()
        usage = []
        for process in processes:
            with contextlib.suppress(psutil.Error):
                if process.pid != me:
                    usage.append((process.cpu_percent(None), " ".join(process.info["cmdline"] or [])[:90]))
        usage.sort(reverse=True)
        top = "; ".join(f"{cpu:.0f}% {cmd}" for cpu, cmd in usage[:3])
        progress(f"WARNING: the machine is {busy:.0f}% busy before the benchmark ({top}); figures will be low")
    return busy


def wait_until_quiet(progress: Progress, max_wait: float, threshold: float = 15.0) -> float:
    """Wait (up to ``max_wait`` s) until the whole machine is less than ``threshold`` % busy; return the last
    reading."""
    if max_wait <= 0:  # quick runs: no time spent looking
        return float("nan")
    deadline = time.monotonic() + max_wait
    busy = psutil.cpu_percent(interval=1.0)
    if busy >= threshold and max_wait > 0:
        progress(f"machine {busy:.0f}% busy with other processes; waiting up to {max_wait:g} s for it to calm down")
        while busy >= threshold and time.monotonic() < deadline:
            busy = psutil.cpu_percent(interval=2.0)
    if busy >= threshold:
        warn_if_busy(progress, threshold)
    return busy


class SystemCpu:
    """CPU used by the whole machine between start() and stop(), in % of one core (2 busy cores = 200)."""

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return times.user + times.nice + times.system + times.irq + times.softirq + getattr(times, "steal", 0.0)

    def start(self) -> SystemCpu:
        self._t0, self._b0 = time.monotonic(), self._busy()
        return self

    def stop(self) -> float:
        return 100.0 * (self._busy() - self._b0) / (time.monotonic() - self._t0)


# ---- CPUs, limits --------------------------------------------------------------------------------


def cpu_plan(pin_enabled: bool = True) -> tuple[set[int] | None, set[int] | None]:
    """(server cores, load-generator cores): the first core for the server, the others for load.

    None, None when pinning is off or there is a single core.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if not pin_enabled or len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


def describe_plan(server: set[int] | None, load: set[int] | None) -> str:
    if server is None:
        return "no CPU pinning: server and load generators share all cores"
    return f"server pinned to core {sorted(server)}, load generators to cores {sorted(load or ())}"


def pin(cpus: set[int] | None, pid: int = 0) -> None:
    if cpus:
        os.sched_setaffinity(pid, cpus)


def raise_nofile(wanted: int) -> int:
    """Raise RLIMIT_NOFILE towards ``wanted`` (up to the hard limit); return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class CpuMeter:
    """CPU used by some processes between start() and stop(), in % of one core."""

    def __init__(self, pids: Iterable[int]) -> None:
        self.processes = [psutil.Process(pid) for pid in pids]
        self._start: list[float] = []
        self._t0 = 0.0

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return 0.0
        return times.user + times.system

    def start(self) -> CpuMeter:
        self._t0 = time.monotonic()
        self._start = [self._cpu(p) for p in self.processes]
        return self

    def stop(self) -> list[float]:
        elapsed = time.monotonic() - self._t0
        return [100.0 * (self._cpu(p) - s) / elapsed for p, s in zip(self.processes, self._start, strict=True)]


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the highest RSS the process has had."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ---- servers -------------------------------------------------------------------------------------


class ServerProcess(SidecarProcess):
    """A server subprocess on a free loopback port, in a directory of its own, stopped with SIGTERM."""

    def __init__(
        self,
        argv: list[str],
        workdir: Path,
        name: str,
        cpus: set[int] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        # A directory of its own, never one an earlier server used: the sidecar keeps its database
        # there, and a later server must not restore an earlier one's jobs. Made by mkdtemp, so a
        # repeated case whose free port happens to be the same as before still gets a new one.
        workdir.mkdir(parents=True, exist_ok=True)
        own = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
        super().__init__(own, free_port(), argv=argv, name=name, cpus=cpus, **(settings or {}))

    def start(self, timeout: float = 30.0) -> ServerProcess:
        super().start(timeout)
        return self


def sidecar_process(workdir: Path, cpus: set[int] | None = None, **settings: Any) -> ServerProcess:
    """``python -m jobpulse.sidecar sidecar``, as a service manager would start it."""
    return ServerProcess([sys.executable, "-m", "jobpulse.sidecar", "sidecar"], workdir, "sidecar", cpus, settings)


def bare_endpoint_process(workdir: Path, cpus: set[int] | None = None, **settings: Any) -> ServerProcess:
    """The bare Litestar endpoint under uvicorn with the sidecar's own uvicorn configuration."""
    argv = [sys.executable, str(Path(__file__).resolve()), "bare-endpoint"]
    return ServerProcess(argv, workdir, "bare-endpoint", cpus, settings)


def bare_app() -> Any:
    """Litestar app whose POST /v1/logs only parses the protobuf body and answers an empty response."""
    from litestar import Litestar, Request, Response, get, post
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
    )

    empty = ExportLogsServiceResponse().SerializeToString()

    @post("/v1/logs", status_code=200)
    async def export_logs(request: Request) -> Response[bytes]:
        ExportLogsServiceRequest().ParseFromString(await request.body())
        return Response(empty, media_type=PROTOBUF)

    @get("/readyz")
    async def readyz() -> str:
        return "ok"

    return Litestar(
        route_handlers=[export_logs, readyz],
        request_max_body_size=8 * 1024 * 1024,
        signature_namespace={"Request": Request, "Response": Response},  # annotations are strings here
    )


def serve_bare_endpoint() -> None:
    import uvicorn

    from jobpulse.sidecar.server import uvicorn_config
    from jobpulse.sidecar.settings import load_settings

    # The sidecar's own uvicorn.Config (loop, http protocol, logging, ws options), serving the bare app.
    uvicorn.Server(uvicorn_config(load_settings(), bare_app())).run()


# ---- py-spy --------------------------------------------------------------------------------------


class Profiler:
    """``py-spy record`` of a process for a fixed time, as raw (collapsed) stacks for `print_profile`.

    For a flame graph of the same run use ``py-spy record -o out.svg --pid PID`` by hand, or feed the
    raw file to any collapsed-stack flame graph tool.
    """

    def __init__(self, pid: int, out_prefix: Path, duration: float, cpus: set[int] | None, rate: int = 250):
        self.pid = pid
        self.raw = out_prefix.with_suffix(".txt")
        self.duration = max(1, round(duration))
        self.cpus = cpus
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("py-spy") is not None

    def start(self) -> Profiler:
        cpus = self.cpus
        self.process = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--format",
                "raw",
                "-o",
                str(self.raw),
                "--pid",
                str(self.pid),
                "--duration",
                str(self.duration),
                "--rate",
                str(self.rate),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        return self

    def wait(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(self.duration + 30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_AREAS = (
    ("sidecar/ingest/otlp_codec", "OTLP decode (ingest/otlp_codec.py + protobuf)"),
    ("google/protobuf", "OTLP decode (ingest/otlp_codec.py + protobuf)"),
    ("sidecar/ingest/records", "record -> JobEvent (ingest/records.py)"),
    ("sidecar/ingest/receiver", "receiver loop (ingest/receiver.py)"),
    ("sidecar/model/fold", "fold + store (model/fold.py, store.py)"),
    ("sidecar/store", "fold + store (model/fold.py, store.py)"),
    ("sidecar/model/state", "fold + store (model/fold.py, store.py)"),
    ("sidecar/model/figures", "feed (feed/hub.py, schemas.py, model/figures.py, feed/socket.py)"),
    ("sidecar/schemas", "feed (feed/hub.py, schemas.py, model/figures.py, feed/socket.py)"),
    ("sidecar/timestamps", "feed (feed/hub.py, schemas.py, model/figures.py, feed/socket.py)"),
    ("sidecar/feed/", "feed (feed/hub.py, schemas.py, model/figures.py, feed/socket.py)"),
    ("sidecar/history", "history (history/*)"),
    ("sidecar/alerting", "alerting + metrics listeners (alerting/*, metrics/*)"),
    ("sidecar/metrics", "alerting + metrics listeners (alerting/*, metrics/*)"),
    ("prometheus_client/", "alerting + metrics listeners (alerting/*, metrics/*)"),
    ("sidecar/", "other sidecar code"),
    ("uvicorn/protocols/websockets", "WebSocket protocol (uvicorn + websockets)"),
    ("websockets/", "WebSocket protocol (uvicorn + websockets)"),
    ("uvicorn/", "HTTP server (uvicorn + httptools)"),
    ("litestar/", "Litestar (routing, request, response)"),
    ("asyncio/", "event loop: uvloop's C code (polling, socket reads and writes)"),
    ("sqlalchemy/", "history (history/*)"),
    ("aiosqlite/", "history (history/*)"),
)


def _area(name: str) -> str:
    for marker, area in _AREAS:
        if marker in name:
            return area
    return "other (stdlib, GC, native)" if name else "native (no Python frame)"


def summarize_profile(raw_path: Path, top: int = 15) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """From py-spy raw stacks: (samples, top functions by self time %, self time % by area).

    Self time only: with uvloop, py-spy often cuts a coroutine's stack at the C boundary, so
    inclusive figures would undercount; the innermost Python frame is always right.
    """
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(frame) for frame in stack.split(";") if frame.strip()]
        own[frames[-1] if frames else ""] += count
    if not total:
        return 0, [], []
    areas: collections.Counter[str] = collections.Counter()
    for name, n in own.items():
        areas[_area(name)] += n
    return (
        total,
        [(name or "(no Python frame)", 100.0 * n / total) for name, n in own.most_common(top)],
        [(area, 100.0 * n / total) for area, n in areas.most_common()],
    )


def _frame_name(frame: str) -> str:
    """'flush (jobpulse/sidecar/feed/hub.py:220)' -> 'sidecar/feed/hub.py:flush'."""
    function, _, where = frame.strip().partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/jobpulse/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{function}" if path else function


def print_profile(raw_path: Path, title: str, top: int = 15) -> None:
    samples, own, areas = summarize_profile(raw_path, top)
    if not samples:
        print(f"\n{title}: no samples")
        return
    print_table(["where (self time)", "% of samples"], areas, f"{title}: {samples:,} samples, self time by area")
    print_table(["function (self time)", "% of samples"], own, f"{title}: top functions by self time")


# ---- OTLP protobuf encoding ----------------------------------------------------------------------
#
# Hand-rolled because the bench needs hundreds of thousands of distinct records quickly; the wire
# layout is that of opentelemetry-proto (field numbers below), and check_encoder() compares the
# result with the official classes and runs it through the sidecar's decoder.

_pack_q = struct.Struct("<Q").pack
_pack_d = struct.Struct("<d").pack
_pack_i = struct.Struct("<I").pack


def _varint_slow(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL_VARINTS = [_varint_slow(n) for n in range(1 << 14)]


def _varint(value: int) -> bytes:
    if 0 <= value < 16384:
        return _SMALL_VARINTS[value]
    return _varint_slow(value)


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def any_value(value: Any) -> bytes:
    """An encoded AnyValue (string 1, bool 2, int 3, double 4, array 5)."""
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _pack_d(value)
    if isinstance(value, str):
        return _ld(1, value.encode())
    if isinstance(value, list | tuple):
        return _ld(5, b"".join(_ld(1, any_value(item)) for item in value))
    raise TypeError(f"no AnyValue for {value!r}")


_KEYS: dict[str, bytes] = {}


def key_value(key: str, value: Any) -> bytes:
    """An encoded KeyValue (key 1, value 2)."""
    encoded_key = _KEYS.get(key)
    if encoded_key is None:
        encoded_key = _KEYS[key] = _ld(1, key.encode())
    return encoded_key + _ld(2, any_value(value))


def attribute(key: str, value: Any) -> bytes:
    """A LogRecord attribute (LogRecord.attributes is field 6)."""
    return _ld(6, key_value(key, value))


_SEVERITY = {"DEBUG": 5, "INFO": 9, "WARNING": 13, "ERROR": 17, "CRITICAL": 21}
_EMPTY_BODY = b"\x2a\x00"  # body {} : the SDK sends an empty AnyValue for events


def log_record(
    time_ns: int,
    attributes: bytes,
    *,
    event_name: str = "",
    severity: str = "INFO",
    body: str | None = None,
    trace_id: bytes = b"",
    span_id: bytes = b"",
) -> bytes:
    """An encoded LogRecord as the OpenTelemetry Python SDK sends it (field order as it does)."""
    stamp = _pack_q(time_ns)
    parts = [
        b"\x09" + stamp,  # 1 time_unix_nano (fixed64)
        b"\x10" + _varint(_SEVERITY[severity]),  # 2 severity_number
        _ld(3, severity.encode()),  # 3 severity_text
        _EMPTY_BODY if body is None else _ld(5, any_value(body)),  # 5 body
        attributes,  # 6 attributes
    ]
    if trace_id:
        parts += [b"\x45" + _pack_i(1), _ld(9, trace_id), _ld(10, span_id)]  # 8 flags, 9 trace_id, 10 span_id
    parts.append(b"\x59" + stamp)  # 11 observed_time_unix_nano (fixed64)
    if event_name:
        parts.append(_ld(12, event_name.encode()))  # 12 event_name
    return _ld(2, b"".join(parts))  # as ScopeLogs.log_records (field 2)


_SCOPE = _ld(1, _ld(1, b"jobpulse.instrumentation"))  # ScopeLogs.scope {name}


def resource_bytes(attributes: dict[str, Any]) -> bytes:
    """An encoded Resource, as ResourceLogs.resource (field 1)."""
    return _ld(1, b"".join(_ld(1, key_value(k, v)) for k, v in attributes.items()))


def logs_request(resource: bytes, records: Sequence[bytes]) -> bytes:
    """An encoded ExportLogsServiceRequest with one resource and one scope."""
    scope_logs = _ld(2, _SCOPE + b"".join(records))
    return _ld(1, resource + scope_logs)


def process_resource(service: str, pid: int, host: str = "etl-worker-07.prod.internal") -> bytes:
    """The Resource the Python SDK reports for a job process (same keys and kinds)."""
    return resource_bytes(
        {
            "host.name": host,
            "process.pid": pid,
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.version": "1.45.2",
            "service.instance.id": str(uuid.UUID(int=random.getrandbits(128))),
            "service.name": service,
        }
    )


# ---- realistic jobs ------------------------------------------------------------------------------

JOB_TYPES = ("csv_import", "api_upload", "db_load", "field_mapping", "s3_sync")
STEPS = ("extract", "transform", "load")
OWNERS = ("data-team", "billing", "growth-analytics", "ops")
LOG_MESSAGES = (
    "loaded batch {n} of {total} from s3://etl-landing/orders/2026-11-02/part-{n:05d}.csv.gz",
    "upserted {n} rows into warehouse.orders_staging (3 conflicts resolved by updated_at)",
    "skipping record {n}: field 'customer_email' is not a valid address",
    "retrying POST https://api.partner.example/v2/shipments after 503 (attempt {k} of 5)",
)
STACKTRACE = (
    "Traceback (most recent call last):\n"
    '  File "/srv/etl/jobs/orders_import.py", line 212, in write_batch\n'
    "    cursor.executemany(INSERT_ORDERS, rows)\n"
    '  File "/srv/etl/.venv/lib/python3.11/site-packages/psycopg/cursor.py", line 741, in executemany\n'
    "    raise ex.with_traceback(None)\n"
    'psycopg.errors.UniqueViolation: duplicate key value violates unique constraint "orders_pkey"\n'
    "DETAIL:  Key (order_id)=(88213321) already exists.\n"
)


class JobSim:
    """One job as the instrumentation reports it: seq numbering, absolute counts, steps, trace ids."""

    __slots__ = (
        "_id_attr",
        "_step_attrs",
        "failed",
        "id",
        "job_type",
        "name",
        "owner",
        "processed",
        "rng",
        "seq",
        "span_id",
        "step",
        "total",
        "trace_id",
    )

    def __init__(self, job_id: str, rng: random.Random) -> None:
        self.id = job_id
        self.rng = rng
        self.seq = 0
        self.processed = 0
        self.failed = 0
        self.total = rng.randrange(5_000, 2_000_000)
        self.step = -1
        self.trace_id = rng.randbytes(16)
        self.span_id = rng.randbytes(8)
        self._id_attr = attribute("jobpulse.job.id", job_id)
        self._step_attrs = b""
        self.job_type = rng.choice(JOB_TYPES)
        self.name = f"nightly-{self.job_type.replace('_', '-')}-{rng.randrange(40):02d}"
        self.owner = rng.choice(OWNERS)

    def _head(self) -> bytes:
        self.seq += 1
        return self._id_attr + attribute("jobpulse.seq", self.seq)

    def _counts(self) -> bytes:
        return (
            attribute("jobpulse.job.processed", self.processed)
            + attribute("jobpulse.job.failed", self.failed)
            + attribute("jobpulse.job.total", self.total)
        )

    def _record(self, attributes: bytes, at_ns: int | None = None, **kwargs: Any) -> bytes:
        stamp = at_ns if at_ns is not None else time.time_ns()
        return log_record(stamp, attributes, trace_id=self.trace_id, span_id=self.span_id, **kwargs)

    def start(self) -> bytes:
        attributes = (
            self._head()
            + self._counts()
            + attribute("jobpulse.job.name", self.name)
            + attribute("jobpulse.job.type", self.job_type)
            + attribute("jobpulse.job.owner", self.owner)
            + attribute("jobpulse.job.step.names", list(STEPS))
            + attribute("jobpulse.job.heartbeat_interval_s", 5.0)
        )
        return self._record(attributes, event_name="jobpulse.job.start")

    def step_started(self) -> bytes:
        self.step += 1
        self.span_id = self.rng.randbytes(8)
        self._step_attrs = (
            attribute("jobpulse.job.step", STEPS[self.step])
            + attribute("jobpulse.job.step.index", self.step)
            + attribute("jobpulse.job.step.count", len(STEPS))
        )
        attributes = self._head() + self._counts() + self._step_attrs + attribute("jobpulse.job.step.state", "started")
        return self._record(attributes, event_name="jobpulse.job.step")

    def step_completed(self) -> bytes:
        attributes = (
            self._head()
            + self._counts()
            + self._step_attrs
            + attribute("jobpulse.job.step.state", "completed")
            + attribute("jobpulse.job.step.duration_s", round(self.rng.uniform(0.5, 900.0), 3))
        )
        return self._record(attributes, event_name="jobpulse.job.step")

    def progress(self, advance: int | None = None, at_ns: int | None = None) -> bytes:
        """A progress record; ``at_ns`` (default now) is when the job reached the new count, as a
        delivery thread coalescing several advances stamps the record with the newest."""
        n = advance if advance is not None else self.rng.randrange(1, 400)
        self.processed += n
        if self.rng.random() < 0.05:
            self.failed += 1
        attributes = self._head() + self._counts() + self._step_attrs
        return self._record(attributes, at_ns, event_name="jobpulse.job.progress")

    def resources(self) -> bytes:
        attributes = (
            self._head()
            + attribute("process.memory.usage", self.rng.randrange(60, 900) * 2**20)
            + attribute("process.memory.virtual", self.rng.randrange(900, 3000) * 2**20)
            + attribute("process.cpu.utilization", round(self.rng.uniform(0.01, 1.0), 4))
            + attribute("process.thread.count", self.rng.randrange(3, 12))
            + attribute("process.open_file_descriptor.count", self.rng.randrange(7, 60))
        )
        return self._record(attributes, event_name="jobpulse.job.resources")

    def log(self) -> bytes:
        message = self.rng.choice(LOG_MESSAGES).format(n=self.processed, total=self.total, k=self.rng.randrange(1, 5))
        severity = "WARNING" if message.startswith(("skipping", "retrying")) else "INFO"
        attributes = (
            self._head()
            + attribute("log.logger", f"etl.{self.job_type}")
            + attribute("code.function.name", "write_batch")
            + attribute("code.file.path", f"/srv/etl/jobs/{self.job_type}.py")
            + attribute("code.line.number", self.rng.randrange(40, 400))
        )
        return self._record(attributes, severity=severity, body=message)

    def end(self) -> bytes:
        failed = self.rng.random() < 0.05
        attributes = self._head() + self._counts() + self._step_attrs
        if failed:
            attributes += (
                attribute("jobpulse.job.status", "failed")
                + attribute("exception.type", "psycopg.errors.UniqueViolation")
                + attribute("exception.message", 'duplicate key value violates unique constraint "orders_pkey"')
                + attribute("exception.stacktrace", STACKTRACE)
            )
            return self._record(attributes, event_name="jobpulse.job.end", severity="ERROR")
        return self._record(attributes + attribute("jobpulse.job.status", "completed"), event_name="jobpulse.job.end")


class EmitterSim:
    """One job process running ``jobs`` jobs at once, as its delivery thread batches their records.

    Each job lives ``lifetime`` records: start, step started, then progress (with a log line about
    every 8th and a resources sample about every 20th record), step changes, and end; then a new job
    takes its slot. ``job_id_tail`` ends every job id (the wrk script rewrites it to renew ids).
    """

    def __init__(self, index: int, jobs: int, seed: int, job_id_tail: str = "", lifetime: tuple[int, int] = (60, 160)):
        self.rng = random.Random(seed)
        self.index = index
        self.resource = process_resource(f"etl-runner-{index % 16:02d}", 10_000 + index)
        self.tail = job_id_tail
        self.lifetime = lifetime
        self.slots: list[tuple[JobSim, collections.deque[str]]] = [self._new_job() for _ in range(jobs)]
        self.next_slot = 0
        self.kinds: collections.Counter[str] = collections.Counter()

    def _new_job(self) -> tuple[JobSim, collections.deque[str]]:
        rng = self.rng
        job_id = f"{rng.getrandbits(96):024x}{self.tail}"
        length = rng.randrange(*self.lifetime)
        plan: list[str] = ["start", "step_started"]
        body = length - 5
        step_changes = sorted(rng.sample(range(1, body), len(STEPS) - 1))
        for i in range(body):
            if i in step_changes:
                plan += ["step_completed", "step_started"]
            draw = rng.random()
            plan.append("log" if draw < 0.12 else "resources" if draw < 0.17 else "progress")
        plan += ["step_completed", "end"]
        return JobSim(job_id, rng), collections.deque(plan)

    def next_record(self) -> bytes:
        slot = self.next_slot
        self.next_slot = (slot + 1) % len(self.slots)
        job, plan = self.slots[slot]
        kind = plan.popleft()
        if not plan:
            self.slots[slot] = self._new_job()
        self.kinds[kind] += 1
        return getattr(job, kind)()

    def request(self, batch: int) -> bytes:
        return logs_request(self.resource, [self.next_record() for _ in range(batch)])

    def finish_all(self) -> list[bytes]:
        """End records for every job in flight (each slot then holds a fresh job)."""
        records = []
        for slot, (job, _) in enumerate(self.slots):
            if job.seq:  # started: end it; a job not started yet just stays in its slot
                records.append(job.end())
                self.kinds["end"] += 1
                self.slots[slot] = self._new_job()
        return records


def check_encoder() -> None:
    """The hand-rolled encoding equals the official classes' and the sidecar accepts every record."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from jobpulse.sidecar.ingest.records import events_of_protobuf
    from jobpulse.sidecar.model.events import JobEvent
    from tests.support import otlp_build

    emitter = EmitterSim(0, 5, seed=1)
    body = emitter.request(400)
    parsed = ExportLogsServiceRequest()
    parsed.ParseFromString(body)
    records = parsed.resource_logs[0].scope_logs[0].log_records
    assert len(records) == 400, len(records)
    # Re-serialising with the official classes gives the same bytes: the layout is canonical.
    assert parsed.SerializeToString() == body, "hand-rolled OTLP encoding differs from protobuf's"
    reference = otlp_build.record(
        "jobpulse.job.progress",
        {"jobpulse.job.id": "x", "jobpulse.seq": 3},
        time_ns=7,
        trace_id=b"t" * 16,
        span_id=b"s" * 8,
    )
    reference.flags = 1
    reference.severity_number = 9
    reference.severity_text = "INFO"
    reference.observed_time_unix_nano = 7
    reference.body.SetInParent()
    ours = log_record(
        7,
        attribute("jobpulse.job.id", "x") + attribute("jobpulse.seq", 3),
        event_name="jobpulse.job.progress",
        trace_id=b"t" * 16,
        span_id=b"s" * 8,
    )
    assert ours == _ld(2, reference.SerializeToString()), "LogRecord encoding differs from protobuf's"
    kinds = collections.Counter()
    for event in events_of_protobuf(body, time.time_ns()):
        assert isinstance(event, JobEvent), event
        kinds[event.kind] += 1
    assert kinds["progress"] and kinds["log"] and kinds["start"] and kinds["end"] and kinds["resources"], kinds


def record_mix(kinds: collections.Counter[str]) -> str:
    total = sum(kinds.values()) or 1
    merged = collections.Counter()
    for kind, n in kinds.items():
        merged["step" if kind.startswith("step") else kind] += n
    return ", ".join(f"{kind} {100 * n / total:.0f}%" for kind, n in merged.most_common())


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.95 for p95) of unsorted ``values``."""
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


@contextlib.contextmanager
def temp_workdir(prefix: str):
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        yield Path(directory)


if __name__ == "__main__":
    if sys.argv[1:] == ["bare-endpoint"]:
        serve_bare_endpoint()
    elif sys.argv[1:] == ["check"]:
        check_encoder()
        print("OTLP encoder ok")
    else:
        sys.exit("usage: python bench/_support.py bare-endpoint | check")
