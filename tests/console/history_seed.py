"""A week of past runs of the demo's four jobs, some failing, for the views that look back: history,
analytics (success rate and durations per day, bottleneck steps, errors) and alerts."""

from __future__ import annotations

import itertools
import random
import uuid
from typing import Any

from tests.support.otlp_build import post_logs, record

S = 1_000_000_000
DAY = 86_400 * S
# name, type, owner, steps with their usual seconds, records, the chance a run fails and how.
JOBS: list[tuple[str, str, str, list[tuple[str, float]], int, float, tuple[str, str]]] = [
    (
        "orders-csv-import",
        "csv_import",
        "data-eng",
        [("generate", 4), ("parse", 6), ("validate", 14), ("write", 5)],
        20_000,
        0.05,
        ("ValueError", "ordered_on '31/02/2026' is not an ISO date"),
    ),
    (
        "customer-field-mapping",
        "field_mapping",
        "crm-team",
        [("load-mapping", 2), ("map", 9), ("write", 3)],
        12_000,
        0.0,
        ("KeyError", "'email'"),
    ),
    (
        "crm-api-upload",
        "api_upload",
        "crm-team",
        [("prepare", 1), ("upload", 16)],
        6_000,
        0.15,
        ("TimeoutError", "partner API did not answer within 30 s"),
    ),
    (
        "warehouse-db-load",
        "db_load",
        "data-eng",
        [("create-schema", 1), ("load", 12), ("index", 4)],
        15_000,
        0.4,
        ("sqlite3.IntegrityError", "UNIQUE constraint failed: sales.id"),
    ),
]


class TimedJob:
    """One job's records at times of our choosing (a week ago, or spread over the last minute), with
    seq numbered as its emitter would."""

    def __init__(self) -> None:
        self.job_id = uuid.uuid4().hex
        self._seq = itertools.count(1)

    def event(self, event_name: str, at_ns: int, attributes: dict[str, Any]) -> Any:
        failed = attributes.get("jobpulse.job.status") == "failed"
        return record(
            event_name,
            {"jobpulse.job.id": self.job_id, "jobpulse.seq": next(self._seq), **attributes},
            time_ns=at_ns,
            severity="error" if failed else None,
        )

    def start(self, at_ns: int, name: str, job_type: str, owner: str, total: int, **attributes: Any) -> Any:
        return self.event(
            "jobpulse.job.start",
            at_ns,
            {
                "jobpulse.job.name": name,
                "jobpulse.job.type": job_type,
                "jobpulse.job.owner": owner,
                "jobpulse.job.total": total,
                "jobpulse.job.processed": 0,
                **attributes,
            },
        )

    def progress(self, at_ns: int, processed: int, failed: int = 0, **attributes: Any) -> Any:
        return self.event(
            "jobpulse.job.progress",
            at_ns,
            {"jobpulse.job.processed": processed, "jobpulse.job.failed": failed, **attributes},
        )


def _run(
    name: str,
    job_type: str,
    owner: str,
    steps: list[tuple[str, float]],
    total: int,
    failure: tuple[str, str] | None,
    start_ns: int,
    rng: random.Random,
) -> list[Any]:
    job = TimedJob()
    records = [
        job.start(
            start_ns,
            name,
            job_type,
            owner,
            total,
            **{
                "jobpulse.job.expected_duration_s": sum(seconds for _, seconds in steps) * 1.3,
                "jobpulse.job.step.names": [step for step, _ in steps],
            },
        )
    ]
    at = start_ns
    failed_records = int(total * rng.uniform(0, 0.02)) if job_type != "api_upload" else 0
    failing_step = rng.randrange(1, len(steps)) if failure else None
    for index, (step, seconds) in enumerate(steps):
        where = {"jobpulse.job.step": step, "jobpulse.job.step.index": index, "jobpulse.job.step.count": len(steps)}
        records.append(job.event("jobpulse.job.step", at, {**where, "jobpulse.job.step.state": "started"}))
        duration = seconds * rng.uniform(0.8, 1.4)
        at += int(duration * S)
        if index == failing_step:
            error_type, message = failure
            records += [
                job.event(
                    "jobpulse.job.step",
                    at,
                    {**where, "jobpulse.job.step.state": "failed", "jobpulse.job.step.duration_s": duration},
                ),
                job.event(
                    "jobpulse.job.end",
                    at,
                    {
                        "jobpulse.job.status": "failed",
                        "jobpulse.job.processed": total * index // len(steps),
                        "jobpulse.job.step": step,
                        "exception.type": error_type,
                        "exception.message": message,
                        "exception.stacktrace": f'Traceback (most recent call last):\n  File "etl/{job_type}.py", '
                        f"line 88, in {step}\n{error_type}: {message}",
                    },
                ),
            ]
            return records
        records += [
            job.event(
                "jobpulse.job.step",
                at,
                {**where, "jobpulse.job.step.state": "completed", "jobpulse.job.step.duration_s": duration},
            ),
            job.progress(at, total * (index + 1) // len(steps), failed_records * (index + 1) // len(steps)),
        ]
    records.append(
        job.event(
            "jobpulse.job.end",
            at,
            {
                "jobpulse.job.status": "completed",
                "jobpulse.job.processed": total,
                "jobpulse.job.failed": failed_records,
            },
        )
    )
    return records


def seed_week(url: str, now_ns: int, seed: int = 15) -> None:
    """Post two runs a day of each job over the last seven days."""
    rng = random.Random(seed)
    records: list[Any] = []
    for day in range(7, 0, -1):
        for hour in (2, 14):
            for name, job_type, owner, steps, total, fail_chance, failure in JOBS:
                start = now_ns - day * DAY + hour * 3600 * S + rng.randrange(0, 600) * S
                records += _run(
                    name, job_type, owner, steps, total, failure if rng.random() < fail_chance else None, start, rng
                )
    post_logs(url, records)
