"""History search at scale: filtered pages of GET /api/jobs over 1,000,000 jobs in SQLite.

30 days of history at about 23 jobs a minute, written straight into a fresh database (same schema,
migrated by the sidecar's own migrations), then a real sidecar serves it and each query shape is
timed over HTTP. Baseline in the same run: GET /healthz on the same sidecar (the HTTP floor).
Target: p95 under 50 ms for a filtered page.

    python bench/bench_history.py            # 1,000,000 jobs
    python bench/bench_history.py --quick    # smoke run: 2,000 jobs, 5 samples per query
    python bench/bench_history.py --keep     # keep the database; query it again with --reuse PATH
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _support

from jobpulse.sidecar.history.rows import job_row
from jobpulse.sidecar.history.tables import jobs
from jobpulse.sidecar.model.state import ErrorInfo, JobState
from jobpulse.sidecar.storage.engine import create_engine
from jobpulse.sidecar.storage.migrate import migrate
from tests.support.sidecar import SidecarProcess

S = 10**9
TYPES = ["csv_import", "field_mapping", "api_upload", "db_load", "report", "sync", "export", "cleanup"]
ERRORS = [
    ("ConnectionError", "connection to warehouse refused"),
    ("TimeoutError", "upstream API timed out after 30 s"),
    ("ValueError", "row {n}: amount is not a number"),
    ("sqlite3.IntegrityError", "UNIQUE constraint failed: sales.id"),
]


def generate(path: Path, count: int, now_ns: int) -> None:
    """Write ``count`` jobs spread over the 30 days before ``now_ns``."""
    asyncio.run(_migrate(path))
    rng = random.Random(7)
    names = [f"{kind}-{n:02d}" for kind in TYPES for n in range(6)]
    span = 30 * 86400 * S
    columns = [column.name for column in jobs.columns]
    insert = f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    batch = []
    started_clock = time.perf_counter()
    for n in range(count):
        name = rng.choice(names)
        job_type = name.rsplit("-", 1)[0]
        started = now_ns - span + n * (span // count) + rng.randrange(S)
        duration = rng.lognormvariate(4, 1)
        roll = rng.random()
        status = "completed" if roll < 0.93 else "failed" if roll < 0.98 else "cancelled" if roll < 0.99 else "lost"
        processed = int(duration * rng.uniform(50, 500))
        error = None
        if status == "failed":
            kind, message = rng.choice(ERRORS)
            error = ErrorInfo(type=kind, message=message.format(n=n), step="load")
        ended = started + int(duration * S) if status != "lost" else None
        state = JobState(
            id=f"{n:08x}-{rng.getrandbits(64):016x}",
            status=status,
            name=name,
            job_type=job_type,
            owner=f"team-{n % 10}",
            processed=processed,
            failed=processed // 100,
            total=processed,
            started_ns=started,
            ended_ns=ended,
            first_ns=started,
            last_ns=ended or started,
            error=error,
            host=f"worker-{n % 20}",
            pid=1000 + n % 5000,
            ident_seq=1,
        )
        row = job_row(state)
        row.update(log_bytes=0, log_lines_dropped=0)
        batch.append(tuple(row[column] for column in columns))
        if len(batch) == 20_000:
            connection.executemany(insert, batch)
            connection.commit()
            batch.clear()
            print(f"  generated {n + 1:,} jobs ({time.perf_counter() - started_clock:.0f} s)", flush=True)
    connection.executemany(insert, batch)
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()


async def _migrate(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    await engine.dispose()


def timed(client: httpx.Client, path: str, params: dict, samples: int) -> tuple[list[float], dict]:
    times = []
    body: dict = {}
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        body = response.json()
    return times, body


def _matches(body: dict) -> str:
    """The page's total; a total past the counting limit is a lower bound."""
    return f"{body['total']:,}" if body["total_exact"] else f">={body['total']:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 jobs, 5 samples per query")
    parser.add_argument("--keep", action="store_true", help="keep the generated database (its path is printed)")
    parser.add_argument(
        "--reuse", type=Path, metavar="DB", help="query a database kept by --keep instead of generating"
    )
    _support.add_json_option(parser)
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.samples = 2_000, 5
    now_ns = time.time_ns()
    day_ago = now_ns - 86400 * S
    if args.reuse:
        database, args.keep = args.reuse, True
        workdir = database.parent
        args.jobs = sqlite3.connect(database).execute("SELECT count(*) FROM jobs").fetchone()[0]
    else:
        workdir = Path(tempfile.mkdtemp(prefix="jobpulse-bench-history-"))
        database = workdir / "jobpulse.db"
        print(f"generating {args.jobs:,} jobs into {database.name} …", flush=True)
        generate(database, args.jobs, now_ns)
    print(f"database: {database.stat().st_size / 1024 / 1024:.0f} MB; starting the sidecar …", flush=True)
    sidecar = SidecarProcess(
        workdir, database_url=f"sqlite+aiosqlite:///{database}", retention_sweep_interval_s=86400
    ).start(timeout=120)
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day_ago / S))
    cases = [
        ("newest page, no filter", {}),
        ("status=failed", {"status": "failed"}),
        ("status=failed,cancelled", {"status": ["failed", "cancelled"]}),
        ("job_type=api_upload", {"job_type": "api_upload"}),
        ("name_prefix=db_load-0", {"name_prefix": "db_load-0"}),
        ("name substring 'load-03'", {"name": "load-03"}),
        ("owner + status", {"owner": "team-3", "status": "failed"}),
        ("started in the last day", {"started_after": iso}),
        ("failed, duration 60-600 s", {"status": "failed", "min_duration_s": 60, "max_duration_s": 600}),
        ("free text in errors 'timed out'", {"q": "timed out"}),
        ("sort by duration", {"sort": "-duration"}),
    ]
    rows = []
    try:
        with httpx.Client(base_url=sidecar.url, timeout=60) as client:
            if not client.get("/api/jobs").json()["items"]:
                raise SystemExit(f"the sidecar serves no jobs from {database}")
            floor, _ = timed(client, "/healthz", {}, args.samples)
            for label, params in cases:
                print(f"  {label} …", flush=True)
                times, body = timed(client, "/api/jobs", params, args.samples)
                rows.append((label, _matches(body), statistics.median(times), _support.percentile(times, 0.95)))
            _, first = timed(client, "/api/jobs", {"status": "completed"}, 1)
            cursor, pages = first["next_cursor"], 1
            deep = []
            while cursor and pages < 40:
                started = time.perf_counter()
                page = client.get("/api/jobs", params={"status": "completed", "cursor": cursor}).json()
                deep.append((time.perf_counter() - started) * 1000)
                cursor, pages = page["next_cursor"], pages + 1
            rows.append(
                (
                    "status=completed, pages 2-40 by cursor",
                    _matches(first),
                    statistics.median(deep),
                    _support.percentile(deep, 0.95),
                )
            )
    finally:
        sidecar.stop()
        if args.keep:
            print(f"kept {database}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    floor_p50 = statistics.median(floor)
    print(
        f"\n{args.jobs:,} jobs in SQLite; baseline GET /healthz p50 {floor_p50:.2f} ms, "
        f"p95 {_support.percentile(floor, 0.95):.2f} ms"
    )
    print(f"{'query':42} {'matches':>9} {'p50 ms':>8} {'p95 ms':>8} {'p95/floor':>10}  target p95 < 50 ms")
    for label, total, p50, p95 in rows:
        verdict = "ok" if p95 < 50 else "MISSED"
        print(f"{label:42} {total:>9} {p50:>8.1f} {p95:>8.1f} {p95 / floor_p50:>10.1f}  {verdict}")
    _support.write_summary(
        args.json,
        [
            _support.SummaryRow(
                bench="history",
                metric=f"{label}, p95 (vs /healthz p50)",
                value=p95,
                unit="ms",
                baseline=floor_p50,
                target="p95 < 50 ms",
                meets=p95 < 50,
            )
            for label, _, _, p95 in rows
        ],
    )


if __name__ == "__main__":
    main()
