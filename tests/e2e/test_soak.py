"""Soak: two well-behaved jobs run while a third sender poisons the same sidecar with every bad input
in tests/support/poison.py. Every record of the good jobs reaches REST, the live feed and history;
the poisoner never gets a 5xx and the sidecar logs no exception; the sidecar stays up and ready.

Bounded: about 300 poisonous requests, two jobs of three seconds, one deadline for everything.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from jobpulse.client import JobLog, JobProgress, JobStatusUpdate, Resync, Snapshot
from jobpulse.client.jobs import JobSummary
from tests.support.feed_watch import FeedWatch
from tests.support.job_scripts import start_script
from tests.support.poison import Poisoner
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

pytestmark = pytest.mark.slow

SEED = 20261202
POISON_ROUNDS = 14  # every kind of poison this many times: about 300 requests
POISON_PAUSE_S = 0.04  # at most, between two poisonous requests: spreads them over the good jobs' run
MAX_REQUEST_BYTES = 1 << 20
DEADLINE_S = 40
FEED_GRACE_S = 5  # for messages still in flight once the good jobs have exited
HISTORY_GRACE_S = 10  # for the last flushes once the good jobs have exited
TERMINAL = ("completed", "failed", "cancelled")

Line = tuple[str, str]  # (level, message)
Answer = tuple[str, int | None, str]  # (kind of poison, status or None when unanswered, detail)

GOOD_JOB = """
import json, logging, time
from jobpulse.instrumentation import track_job

job_id, name, rows, fail_at = {job_id!r}, {name!r}, {rows!r}, {fail_at!r}
log = logging.getLogger("soak." + name)
log.setLevel(logging.DEBUG)
levels = ("debug", "info", "warning", "error")
emitted = []

def line(level, message, through_logging):
    emitted.append([level, message])
    if through_logging:
        log.log(logging.getLevelName(level.upper()), message)
    else:
        job.log(message, level)

try:
    with track_job(name, job_id=job_id, job_type="soak", total=rows, steps=["extract", "load"],
                   log_level=logging.DEBUG) as job:
        with job.step("extract"):
            line("info", f"{{name}}: reading {{rows}} rows", True)
        with job.step("load"):
            for row in job.iter(range(rows)):
                if row == fail_at:
                    raise ValueError(f"row {{row}}: amount is not a number")
                if row % 7 == 3:
                    job.advance(0, failed=1)
                if row % 5 == 0:
                    line(levels[row // 5 % 4], f"{{name}}: row {{row}} \\u00e9t\\u00e9 \\"quoted\\" <{{row % 3}}>",
                         row % 2 == 0)
                time.sleep(0.01)
finally:
    print(json.dumps(emitted), flush=True)
"""


@dataclass
class GoodJob:
    """A well-behaved job process (tracked with track_job), and what it must end with."""

    name: str
    rows: int
    fail_at: int | None = None
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    process: Popen[str] | None = None
    emitted: list[Line] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "completed" if self.fail_at is None else "failed"

    @property
    def processed(self) -> int:
        return self.rows if self.fail_at is None else self.fail_at

    @property
    def failed(self) -> int:
        return sum(1 for row in range(self.processed) if row % 7 == 3)

    def start(self, url: str) -> None:
        script = GOOD_JOB.format(job_id=self.job_id, name=self.name, rows=self.rows, fail_at=self.fail_at)
        self.process = start_script(script, url)

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def collect(self) -> None:
        """The exited job's own account of the lines it emitted, in order."""
        assert self.process is not None
        stdout, stderr = self.process.communicate(timeout=10)
        assert self.process.returncode == (0 if self.fail_at is None else 1), stderr
        self.emitted = [(level, message) for level, message in json.loads(stdout.strip().splitlines()[-1])]
        assert len(self.emitted) == 1 + len(range(0, self.processed, 5)), f"{self.name} logged what it should"

    def feed_lines(self, feed: FeedWatch) -> list[Line]:
        return [(m.data.level, m.data.message) for m in feed.of_job(self.job_id, JobLog)]

    def feed_statuses(self, feed: FeedWatch) -> list[JobSummary]:
        return [m.data for m in feed.of_job(self.job_id, JobStatusUpdate)]

    def fed_completely(self, feed: FeedWatch) -> bool:
        statuses = self.feed_statuses(feed)
        return (
            bool(statuses) and statuses[-1].status in TERMINAL and sorted(self.feed_lines(feed)) == sorted(self.emitted)
        )


class PoisonSender(threading.Thread):
    """Sends the poisoner's schedule, paced at random, and keeps every answer."""

    def __init__(self, url: str, deadline: float) -> None:
        super().__init__(name="poison-sender", daemon=True)
        self.url = url
        self.deadline = deadline
        self.answers: list[Answer] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        pacing = random.Random(SEED)
        poisoner = Poisoner(random.Random(SEED + 1), MAX_REQUEST_BYTES)
        try:
            with httpx.Client(base_url=self.url, timeout=10.0) as client:
                for request in poisoner.schedule(POISON_ROUNDS):
                    if time.monotonic() > self.deadline:
                        return
                    sent = f"{request.method} {request.path} {request.params or ''}"
                    try:
                        response = request.send(client)
                    except httpx.TransportError as error:
                        self.answers.append((request.kind, None, f"{sent}: {error!r}"))
                    else:
                        self.answers.append((request.kind, response.status_code, f"{sent}: {response.text[:300]}"))
                    time.sleep(pacing.uniform(0, POISON_PAUSE_S))
        except BaseException as error:  # reported by the test, not lost with the thread
            self.error = error


def pump(feed: FeedWatch, until: Callable[[], bool], timeout: float) -> bool:
    """Read the feed until ``until()`` holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() >= deadline:
            return False
        with contextlib.suppress(TimeoutError):
            feed.receive(0.1)
    return True


def stored_lines(sidecar: SidecarProcess, job: GoodJob) -> list[Line]:
    page = sidecar.client.logs(job.job_id, limit=500)
    assert page.next_cursor is None, "one page holds every line"
    return [(line.level, line.message) for line in page.items]


def pending_writes(sidecar: SidecarProcess) -> float:
    metrics = sidecar.get("/metrics").text
    return float(re.search(r"^jobpulse_sidecar_storage_pending_writes (\S+)$", metrics, re.M).group(1))


def log_records(text: str) -> list[str]:
    """The sidecar's log, one entry per record (a traceback stays with the line that logged it)."""
    records: list[str] = []
    for line in text.splitlines():
        if re.match(r"^(?:[A-Z]+ - \d{4}-|[A-Z]+:\s)", line) or not records:
            records.append(line)
        else:
            records[-1] += "\n" + line
    return records


def poison_problems(answers: list[Answer], records: list[str]) -> list[str]:
    """What the poison did that it must not: 5xx answers, no answer, exceptions the sidecar logged."""
    problems = []
    for (kind, status), count in sorted(Counter((kind, status) for kind, status, _ in answers).items(), key=str):
        if status is None or status >= 500:
            example = next(detail for k, s, detail in answers if (k, s) == (kind, status))
            problems.append(f"{count} x {kind} answered {status or 'nothing'}: {example}")
    logged = Counter(
        re.sub(r"\d{4}-\d\d-\d\d [\d:,]+ - ", "", record.splitlines()[0]) + " ... " + record.splitlines()[-1]
        for record in records
        if "Traceback" in record
    )
    problems.extend(f"{count} x the sidecar logged an exception: {what}" for what, count in logged.items())
    return problems


def test_poison_costs_well_behaved_jobs_nothing(tmp_path: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S

    def left(reserve: float = 0.0) -> float:
        return max(1.0, deadline - time.monotonic() - reserve)

    sidecar = SidecarProcess(
        tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}",
        history_flush_interval_s=0.2,
        max_request_bytes=MAX_REQUEST_BYTES,
        lost_check_interval_s=0.5,
    ).start()
    good = [GoodJob("soak-orders", rows=300), GoodJob("soak-invoices", rows=300, fail_at=240)]
    poisoner = PoisonSender(sidecar.url, deadline - 15)
    try:
        with FeedWatch(sidecar.url) as feed:
            feed.wait_for(Snapshot)
            poisoner.start()
            for job in good:
                job.start(sidecar.url)
            # Reading all along keeps this client current: it never has a reason to be resynced.
            assert pump(feed, lambda: all(job.exited() for job in good), timeout=left(10)), "the good jobs ended"
            for job in good:
                job.collect()
            pump(feed, lambda: all(job.fed_completely(feed) for job in good), timeout=min(FEED_GRACE_S, left()))
            finished = pump(feed, lambda: not poisoner.is_alive(), timeout=left(8))
            assert finished, "the poisoner finished its schedule in time"
            feed.drain(quiet=0.3)

        for job in good:
            detail = sidecar.client.job(job.job_id)
            assert (detail.name, detail.status, detail.processed, detail.failed, detail.total) == (
                job.name,
                job.status,
                job.processed,
                job.failed,
                job.rows,
            )
            assert [(step.name, step.state) for step in detail.steps] == [
                ("extract", "completed"),
                ("load", job.status),
            ]
            if job.fail_at is not None:
                assert detail.error.message == f"row {job.fail_at}: amount is not a number"

        assert not [m for m in feed.messages if isinstance(m, Resync)], "a client that keeps reading is never resynced"
        for job in good:
            statuses = job.feed_statuses(feed)
            assert statuses and statuses[0].status == "running", f"{job.name}: the feed saw it start"
            last = statuses[-1]
            assert (last.status, last.processed, last.failed, last.total) == (
                job.status,
                job.processed,
                job.failed,
                job.rows,
            ), f"{job.name}: the feed saw it end"
            progress = [m.data.processed for m in feed.of_job(job.job_id, JobProgress)]
            assert progress == sorted(progress), f"{job.name}: progress arrives in order"
            fed = Counter(job.feed_lines(feed))
            missing, extra = Counter(job.emitted) - fed, fed - Counter(job.emitted)
            assert not missing and not extra, f"{job.name}: the feed lost {dict(missing)}, repeated {dict(extra)}"

        # History: once nothing waits to be written, the lines REST returns all come from storage.
        for job in good:
            with contextlib.suppress(AssertionError):  # the assertions below say what is missing
                wait_for(
                    lambda job=job: pending_writes(sidecar) == 0 and stored_lines(sidecar, job) == job.emitted,
                    timeout=min(HISTORY_GRACE_S, left()),
                    interval=0.1,
                )
            assert pending_writes(sidecar) == 0, f"history storage is stuck: {sidecar.get('/readyz').text}"
            assert stored_lines(sidecar, job) == job.emitted, f"{job.name}: every line reaches history, in order"
            assert sidecar.client.dead_letters(job_id=job.job_id).total == 0
        listed = sidecar.client.jobs(name="soak-", limit=10)
        assert {item.id: item.status for item in listed.items} == {job.job_id: job.status for job in good}

        ready = sidecar.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert sidecar.process is not None and sidecar.process.poll() is None, "the sidecar is still running"
        records = log_records(sidecar.log())
        troubles = [
            record
            for record in records
            if any(job.job_id in record for job in good)
            and (record.startswith(("ERROR", "CRITICAL")) or "Traceback" in record)
        ]
        assert not troubles, "\n\n".join(troubles)

        if poisoner.error is not None:
            raise poisoner.error
        assert {kind for kind, _, _ in poisoner.answers} == set(Poisoner.kinds()), "every kind of poison was sent"
        problems = poison_problems(poisoner.answers, records)
        assert not problems, f"seed {SEED}:\n" + "\n".join(problems)
    finally:
        for job in good:
            if job.process is not None and job.process.poll() is None:
                job.process.kill()
                job.process.wait()
        sidecar.stop_soon()
