"""The demo's ETL jobs. Each runs in its own process, instrumented like any real job would be.

    python -m jobpulse.sidecar.demo.jobs csv_import --workdir /tmp/demo

They do real work on real data: generate and parse a CSV with bad rows, map fields between schemas,
post batches to an HTTP API, load rows into SQLite (and fail doing it). ``--speed`` scales the pauses
that keep them watchable.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import signal
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

from jobpulse.instrumentation import Job, track_job

log = logging.getLogger("demo")

COUNTRIES = ["DE", "FR", "NL", "SE", "US", "GB", "ES", "IT", "PL", "JP"]
# Every demo job is announced in this queue first and waits there for a worker.
QUEUE = "demo-etl"


class Pace:
    """Sleeps that make a job take human time; ``speed`` 10 runs ten times faster."""

    def __init__(self, speed: float) -> None:
        self.speed = max(speed, 0.001)

    def __call__(self, seconds: float) -> None:
        time.sleep(seconds / self.speed)


def _wait_turn(job: Job, pace: Pace, wait_s: float) -> None:
    """Wait in the queue (the job is ``pending``), then start."""
    pace(wait_s)
    job.start()


def _orders(rng: random.Random, count: int) -> Iterator[dict[str, str]]:
    start = date(2026, 1, 1)
    for number in range(1, count + 1):
        row = {
            "order_id": f"ORD-{number:06d}",
            "customer": f"CUST-{rng.randint(1, 5000):05d}",
            "amount": f"{rng.uniform(5, 900):.2f}",
            "currency": rng.choice(["EUR", "EUR", "USD", "SEK"]),
            "ordered_on": (start + timedelta(days=rng.randint(0, 320))).isoformat(),
            "country": rng.choice(COUNTRIES),
        }
        damage = rng.random()
        if damage < 0.01:
            row["amount"] = "12,50"
        elif damage < 0.02:
            row["ordered_on"] = "31/02/2026"
        elif damage < 0.025:
            row["customer"] = ""
        yield row


def _validate(row: dict[str, str]) -> str | None:
    if not row["customer"]:
        return "customer is empty"
    try:
        if float(row["amount"]) <= 0:
            return f"amount {row['amount']} is not positive"
    except ValueError:
        return f"amount {row['amount']!r} is not a number"
    try:
        date.fromisoformat(row["ordered_on"])
    except ValueError:
        return f"ordered_on {row['ordered_on']!r} is not an ISO date"
    return None


def csv_import(workdir: Path, pace: Pace, rng: random.Random, wait_s: float = 0.0, **_: object) -> None:
    """Generate an orders CSV with some damaged rows, parse and validate it, write the clean rows."""
    rows = 20_000
    source = workdir / "orders.csv"
    clean = workdir / "orders.clean.csv"
    steps = ["generate", "parse", "validate", "write"]
    with track_job(
        "orders-csv-import",
        job_type="csv_import",
        owner="data-eng",
        total=rows,
        steps=steps,
        expected_duration=30 / pace.speed,
        queue=QUEUE,
        queued=True,
    ) as job:
        _wait_turn(job, pace, wait_s)
        with job.step("generate"):
            with source.open("w", newline="") as out:
                writer = csv.DictWriter(out, fieldnames=list(next(_orders(random.Random(0), 1))))
                writer.writeheader()
                writer.writerows(_orders(rng, rows))
            log.info("generated %s (%d bytes)", source.name, source.stat().st_size)
            pace(2)
        with job.step("parse"), source.open(newline="") as handle:
            parsed = list(csv.DictReader(handle))
            log.info("parsed %d rows", len(parsed))
            pace(2)
        valid = []
        with job.step("validate"):
            for number, row in enumerate(job.iter(parsed), 1):
                problem = _validate(row)
                if problem:
                    job.advance(0, failed=1)
                    if job.failed <= 5:
                        log.warning("row %d (%s) rejected: %s", number, row["order_id"], problem)
                else:
                    valid.append(row)
                if number % 500 == 0:
                    pace(0.5)
            log.info("%d rows valid, %d rejected", len(valid), job.failed)
        with job.step("write"), clean.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(valid[0]))
            writer.writeheader()
            writer.writerows(valid)
            pace(1)


_MAPPING = {
    "cust_no": "customer_id",
    "fname": "first_name",
    "lname": "last_name",
    "tel": "phone",
    "ctry": "country_code",
    "mail": "email",
}


def _legacy_customers(rng: random.Random, count: int) -> Iterator[dict[str, str]]:
    first = ["Ada", "Lin", "Omar", "Mia", "Ravi", "Sofia", "Jonas", "Yuki"]
    last = ["Berg", "Chen", "Diaz", "Eklund", "Fischer", "Gupta", "Hansen", "Ito"]
    for number in range(count):
        record = {
            "cust_no": str(100000 + number),
            "fname": rng.choice(first),
            "lname": rng.choice(last),
            "tel": f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}",
            "ctry": rng.choice(COUNTRIES).lower(),
            "mail": f"user{number}@example.com",
        }
        if rng.random() < 0.01:
            record["legacy_flag"] = "Y"
        if rng.random() < 0.006:
            del record["mail"]
        yield record


def _map(record: dict[str, str]) -> dict[str, str]:
    mapped = {target: record[source] for source, target in _MAPPING.items() if source in record}
    missing = [target for target in _MAPPING.values() if target not in mapped]
    if missing:
        raise KeyError(f"required field(s) missing: {', '.join(missing)}")
    mapped["phone"] = "".join(char for char in mapped["phone"] if char.isdigit() or char == "+")
    mapped["country_code"] = mapped["country_code"].upper()
    return mapped


def field_mapping(workdir: Path, pace: Pace, rng: random.Random, wait_s: float = 0.0, **_: object) -> None:
    """Map legacy customer records onto the new schema, normalising phones and country codes."""
    records = list(_legacy_customers(rng, 12_000))
    out_path = workdir / "customers.jsonl"
    with track_job(
        "customer-field-mapping",
        job_type="field_mapping",
        owner="crm-team",
        total=len(records),
        steps=["load-mapping", "map", "export"],
        expected_duration=25 / pace.speed,
        queue=QUEUE,
        queued=True,
    ) as job:
        _wait_turn(job, pace, wait_s)
        with job.step("load-mapping"):
            log.info("mapping %d source fields onto the target schema", len(_MAPPING))
            pace(1.5)
        mapped = []
        with job.step("map"):
            for number, record in enumerate(records, 1):
                unknown = set(record) - set(_MAPPING)
                if unknown:
                    log.debug("record %s: ignoring unmapped field(s) %s", record["cust_no"], sorted(unknown))
                try:
                    mapped.append(_map(record))
                    job.advance()
                except KeyError as error:
                    job.advance(failed=1)
                    log.warning("record %s not mapped: %s", record["cust_no"], error.args[0])
                if number % 400 == 0:
                    pace(0.6)
        with job.step("export"), out_path.open("w") as out:
            for item in mapped:
                out.write(json.dumps(item) + "\n")
            log.info("exported %d customers to %s", len(mapped), out_path.name)
            pace(1)


def _post(url: str, batch: list[dict[str, object]], pace: Pace, attempts: int = 4) -> None:
    body = json.dumps(batch).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                return
        except urllib.error.HTTPError as error:
            if error.code != 503 or attempt == attempts:
                raise
            log.warning("upload got %d (attempt %d of %d), retrying", error.code, attempt, attempts)
            pace(0.3 * 2**attempt)


def api_upload(workdir: Path, pace: Pace, rng: random.Random, api_url: str, wait_s: float = 0.0, **_: object) -> None:
    """Upload contact records to an HTTP API in batches, retrying busy answers."""
    records = [{"id": n, "email": f"contact{n}@example.com", "score": rng.randint(0, 100)} for n in range(6000)]
    batch_size = 50
    with track_job(
        "crm-api-upload",
        job_type="api_upload",
        owner="crm-team",
        total=len(records),
        steps=["prepare", "upload"],
        expected_duration=25 / pace.speed,
        queue=QUEUE,
        queued=True,
    ) as job:
        _wait_turn(job, pace, wait_s)
        with job.step("prepare"):
            log.info("uploading %d records in batches of %d to %s", len(records), batch_size, api_url)
            pace(1)
        with job.step("upload"):
            for start in range(0, len(records), batch_size):
                batch = records[start : start + batch_size]
                _post(api_url, batch, pace)
                job.advance(len(batch))
                pace(0.15)
            log.info("upload finished")


def warehouse_load(workdir: Path, pace: Pace, rng: random.Random, wait_s: float = 0.0, **_: object) -> None:
    """Load fact rows into SQLite; a duplicate key in the feed makes it fail, as it does in real life."""
    rows = [(n, rng.choice(COUNTRIES), round(rng.uniform(1, 500), 2)) for n in range(1, 15_001)]
    rows.insert(rng.randint(8000, 12000), rows[rng.randint(0, 7000)])
    database = workdir / "warehouse.sqlite"
    database.unlink(missing_ok=True)
    with track_job(
        "warehouse-db-load",
        job_type="db_load",
        owner="data-eng",
        total=len(rows),
        steps=["create-schema", "load", "index"],
        expected_duration=20 / pace.speed,
        queue=QUEUE,
        queued=True,
    ) as job:
        _wait_turn(job, pace, wait_s)
        connection = sqlite3.connect(database)
        try:
            with job.step("create-schema"):
                connection.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, country TEXT, amount REAL)")
                pace(1)
            with job.step("load"):
                for start in range(0, len(rows), 250):
                    chunk = rows[start : start + 250]
                    with connection:
                        connection.executemany("INSERT INTO sales VALUES (?, ?, ?)", chunk)
                    job.advance(len(chunk))
                    pace(0.25)
            with job.step("index"):
                connection.execute("CREATE INDEX sales_country ON sales (country)")
        finally:
            connection.close()


JOBS: dict[str, Callable[..., None]] = {
    "csv_import": csv_import,
    "field_mapping": field_mapping,
    "api_upload": api_upload,
    "warehouse_load": warehouse_load,
}


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # SIGTERM from the demo runner becomes KeyboardInterrupt: the job ends as cancelled, cleanly.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one jobpulse demo job.")
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--api-url", default="")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait in the queue before starting")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        JOBS[args.job](
            workdir=args.workdir,
            pace=Pace(args.speed),
            rng=random.Random(args.seed),
            api_url=args.api_url,
            wait_s=args.wait,
        )
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        log.error("job %s failed: %s", args.job, error)
        return 1
    finally:
        # Once the job has ended, a stop request must not cut short the sending of its last records.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
