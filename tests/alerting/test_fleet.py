"""Fleet rules: failure rates over many runs, queues, and a sidecar that falls behind.

Against a real sidecar with real job processes, real WebSocket clients and a real Apprise channel:
a burst of failures fires once and resolves as successes come; queued jobs fire queue_depth; a feed
slowed on purpose fires feed_delay; failing handshakes fire feed_connection_failures. In process, with
a hand-driven clock: the failure-rate window (size, age, minimum count, scopes) and the rules' edges.
"""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobpulse.client import Snapshot
from jobpulse.sidecar.alerting.config import FeedDelayRule, IngestLagRule
from jobpulse.sidecar.alerting.fleet import FleetWatch
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.ingest.receiver import IngestStats
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.store import JobStore
from tests.alerting.conftest import JOB_RULES, rules_off, start_sidecar
from tests.alerting.jobs import JobProcess, unique
from tests.alerting.receivers import HttpReceiver
from tests.feed.wire import WireFeed
from tests.support.feed_watch import FeedWatch
from tests.support.job_events import T0, S, run

HOST = socket.gethostname()

CONFIG = """
# For tests only: every feed flush waits 700 ms, as a sidecar that cannot keep up would.
feed_test_delay_ms = 700

[alerting]
evaluation_interval_s = 0.1
group_window_s = 0.5
repeat_interval_s = 0

[[alerting.channels]]
name = "fleet"
url = "{fleet}"
tags = ["fleet"]

[alerting.delivery]
base_delay_s = 0.05
max_delay_s = 0.2

[alerting.rules.fleet_failure_rate]
channels = ["fleet"]
max_ratio = 0.1
window_jobs = 20
min_jobs = 10

[alerting.rules.queue_depth]
channels = ["fleet"]
max_pending = 3

[alerting.rules.queue_wait]
channels = ["fleet"]

[alerting.rules.feed_delay]
channels = ["fleet"]
max_delay_s = 0.5
window_s = 2
min_frames = 3

[alerting.rules.ingest_lag]
channels = ["fleet"]

[alerting.rules.feed_connection_failures]
channels = ["fleet"]
max_per_minute = 60
window_s = 3
""" + rules_off(JOB_RULES)

# COUNT runs of one job type in one process; the first FAIL of them fail at once.
RUNS = """
import os
from jobpulse.instrumentation import track_job

for index in range(int(os.environ["COUNT"])):
    try:
        with track_job(f"{os.environ['JOB_NAME']}-{index}", job_type=os.environ["JOB_TYPE"]) as job:
            job.advance(10)
            if index < int(os.environ["FAIL"]):
                raise ConnectionRefusedError("connection refused by crm.example.com:443")
    except ConnectionRefusedError:
        pass
"""

# COUNT jobs announced in QUEUE; they wait until stdin says so, then run and end.
QUEUED = """
import contextlib, os, sys
from jobpulse.instrumentation import track_job

with contextlib.ExitStack() as running:
    jobs = [running.enter_context(track_job(f"{os.environ['JOB_NAME']}-{index}", job_type=os.environ["JOB_TYPE"],
                                            queue=os.environ["QUEUE"], queued=True))
            for index in range(int(os.environ["COUNT"]))]
    sys.stdin.readline()
    for job in jobs:
        job.start()
"""


@pytest.fixture(scope="module")
def hooks(module_receiver: HttpReceiver) -> HttpReceiver:
    return module_receiver


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, hooks: HttpReceiver):
    process = start_sidecar(tmp_path_factory.mktemp("fleet"), CONFIG.format(fleet=hooks.url("json", "/fleet")))
    yield process
    process.stop_soon()


def firing(sidecar: Any, **filters: Any) -> list[dict[str, Any]]:
    return sidecar.get("/api/alerts", state="firing", **filters).json()["items"]


def test_a_burst_of_failures_of_one_type_fires_once_and_resolves_as_successes_come(sidecar, hooks):
    job_type = unique("crm")
    about = f"of jobs of type {job_type} failed"
    JobProcess(sidecar, RUNS, name=unique("crm-sync"), job_type=job_type, COUNT="12", FAIL="12").finish()
    [fired] = hooks.wait("/fleet", lambda m: about in m.title)
    assert fired.title.startswith("[HIGH] 100% of jobs of type") and "of the last 10 (threshold 10%)" in fired.title
    assert "A shared cause is likely" in fired.body and "Severity high · rule fleet_failure_rate" in fired.body
    [alert] = firing(sidecar, rule="fleet_failure_rate", job_type=job_type)
    assert alert["key"] == f"fleet_failure_rate:type:{job_type}"
    assert (alert["details"]["failed"], alert["details"]["jobs"]) == (10, 10)

    # 17 successes leave 3 failures among the last 20 (15%): still firing. The 18th brings it to 10%.
    JobProcess(sidecar, RUNS, name=unique("crm-sync"), job_type=job_type, COUNT="17", FAIL="0").finish()
    assert firing(sidecar, rule="fleet_failure_rate", job_type=job_type)
    JobProcess(sidecar, RUNS, name=unique("crm-sync"), job_type=job_type, COUNT="1", FAIL="0").finish()
    [resolved] = hooks.wait("/fleet", lambda m: m.title.startswith("[RESOLVED]") and about in m.title)
    assert "the share of failed runs is back at or under its threshold" in resolved.body
    assert len(hooks.at("/fleet", lambda m: about in m.title)) == 2, "one notice when it fired, one when it resolved"
    assert not firing(sidecar, rule="fleet_failure_rate", job_type=job_type)


def test_more_jobs_waiting_in_a_queue_than_its_threshold_fire_queue_depth(sidecar, hooks):
    queue = unique("imports")
    waiting = JobProcess(sidecar, QUEUED, name=unique("nightly"), job_type="csv_import", COUNT="4", QUEUE=queue)
    [fired] = hooks.wait("/fleet", lambda m: m.title == f"[WARNING] Queue {queue}: 4 jobs waiting (threshold 3)")
    assert "check the consumers of this queue" in fired.body
    [alert] = firing(sidecar, rule="queue_depth", key=f"queue_depth:{queue}")
    assert (alert["details"]["pending"], alert["details"]["max_pending"]) == (4, 3)
    assert sidecar.get("/api/monitor/queues", queue=queue).json()["pending"] == 4
    waiting.send("go")
    waiting.finish()
    [resolved] = hooks.wait("/fleet", lambda m: m.title == f"[RESOLVED] Queue {queue}: 4 jobs waiting (threshold 3)")
    assert "the queue is back at or under its threshold" in resolved.body


def test_a_feed_slower_than_its_threshold_fires_feed_delay(sidecar, hooks):
    with FeedWatch(sidecar.url) as feed:
        feed.wait_for(Snapshot)
        job = JobProcess(sidecar, INTERVAL="0.02")
        [fired] = hooks.wait(
            "/fleet", lambda m: m.title.startswith(f"[WARNING] Live feed on {HOST} is slow"), timeout=30
        )
        assert "threshold 500 ms" in fired.title
        [alert] = firing(sidecar, rule="feed_delay")
        assert alert["details"]["seconds"] > 0.5 and alert["host"] == HOST
        job.finish()
    text = sidecar.get("/metrics").text
    delays = {
        sample.labels["le"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "jobpulse_sidecar_feed_send_delay_seconds_bucket" and sample.labels["type"] == "job_progress"
    }
    assert delays["0.5"] < delays["+Inf"], "frames took longer than 500 ms"
    [resolved] = hooks.wait(
        "/fleet", lambda m: m.title.startswith(f"[RESOLVED] Live feed on {HOST} is slow"), timeout=30
    )
    assert "the live feed's delay is back under its threshold" in resolved.body


def test_failing_feed_handshakes_fire_feed_connection_failures(sidecar, hooks):
    for _ in range(4):
        with WireFeed(sidecar.ws_url, status="sideways") as refused:
            refused.wait_for(lambda m: m["type"] == "error")
    [fired] = hooks.wait("/fleet", lambda m: m.title.startswith(f"[WARNING] Live-feed connections on {HOST}"))
    assert "threshold 60 a minute" in fired.title and "by reason" in fired.body
    text = sidecar.get("/metrics").text
    failures = {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "jobpulse_sidecar_feed_handshake_failures_total"
    }
    assert failures["invalid_parameters"] >= 4 and failures["client_gone"] == 0
    hooks.wait("/fleet", lambda m: m.title.startswith(f"[RESOLVED] Live-feed connections on {HOST}"), timeout=20)


# ---- in process: the rules' edges -------------------------------------------------------------------


def fleet_settings(receiver: HttpReceiver, **rule: Any) -> dict[str, Any]:
    quiet = {name: {"enabled": False} for name in ("job_failed", "queue_depth", "queue_wait", "error_rate")}
    return {
        "group_window_s": 0,
        "repeat_interval_s": 0,
        "channels": [{"name": "hook", "url": receiver.url("json", "/hook"), "tags": ["ops"]}],
        "delivery": {"base_delay_s": 0.01, "max_delay_s": 0.05},
        "rules": {
            **quiet,
            "fleet_failure_rate": {"window_jobs": 5, "min_jobs": 4, "max_ratio": 0.5, "window_s": 600, **rule},
        },
    }


def ended(status: str, job_type: str = "etl") -> list[JobEvent]:
    return run(job_type=job_type, status=status, error_type="E" if status == "failed" else None)


async def test_the_failure_rate_needs_its_minimum_count_and_ignores_cancelled_runs(make_stack, receiver):
    stack = await make_stack(fleet_settings(receiver))
    stack.apply(ended("failed"), ended("failed"), ended("cancelled"), ended("cancelled"))
    await stack.tick(0.1)
    assert not stack.engine.active, "two failures of two finished runs: fewer than min_jobs"
    stack.apply(ended("failed"), ended("completed"))
    await stack.tick(0.1)
    [alert] = stack.engine.active.values()
    assert (alert.rule, alert.key, alert.details["failed"], alert.details["jobs"]) == (
        "fleet_failure_rate",
        "fleet_failure_rate:type:etl",
        3,
        4,
    )
    [message] = receiver.wait("/hook")
    assert message.title == "[HIGH] 75% of jobs of type etl failed: 3 of the last 4 (threshold 50%)"


async def test_the_window_keeps_the_last_jobs_and_forgets_old_ones(make_stack, receiver):
    stack = await make_stack(fleet_settings(receiver))
    stack.apply(*(ended("failed") for _ in range(4)))
    await stack.tick(0.1)
    assert "fleet_failure_rate:type:etl" in stack.engine.active
    # Three successes: the last five are two failures and three successes, 40%.
    stack.apply(*(ended("completed") for _ in range(3)))
    assert "fleet_failure_rate:type:etl" not in stack.engine.active
    stack.apply(*(ended("failed") for _ in range(3)))
    assert stack.engine.active["fleet_failure_rate:type:etl"].state == "firing"
    await stack.tick(601)
    assert not stack.engine.active, "ten minutes on, every run left the window"


async def test_the_rate_over_all_jobs_sees_what_each_type_alone_does_not(make_stack, receiver):
    stack = await make_stack(fleet_settings(receiver, scopes=["job_type", "all"]))
    stack.apply(*(ended("failed", job_type=f"type-{n}") for n in range(4)))
    await stack.tick(0.1)
    assert list(stack.engine.active) == ["fleet_failure_rate:all"]
    assert stack.engine.active["fleet_failure_rate:all"].job_type is None


async def test_a_job_waiting_too_long_fires_queue_wait_until_it_starts(make_stack, receiver):
    settings = fleet_settings(receiver)
    settings["rules"] = {"queue_wait": {"max_wait_s": 60}, "queue_depth": {"enabled": False}}
    stack = await make_stack(settings)
    job_id = uuid.uuid4().hex
    queued_ns = stack.clock.now_ns
    stack.apply([JobEvent(kind="queued", job_id=job_id, seq=1, time_ns=queued_ns, name="report", queue="reports")])
    await stack.tick(59)
    assert not stack.engine.active
    await stack.tick(2)
    alert = stack.engine.active["queue_wait:reports"]
    assert alert.occurrence == job_id and alert.details["oldest_wait_s"] == pytest.approx(61)
    stack.apply([JobEvent(kind="start", job_id=job_id, seq=1, time_ns=queued_ns + 61 * S, name="report")])
    await stack.tick(0.1)
    assert not stack.engine.active
    [fired, resolved] = receiver.wait("/hook", count=2)
    assert fired.title == "[WARNING] Queue reports: a job has waited 1m 1s (threshold 1m 0s)"
    assert resolved.title.startswith("[RESOLVED] Queue reports")


def test_ingest_lag_and_feed_delay_read_their_window_of_the_sidecars_own_histograms():
    ingest = IngestStats()
    hub = FeedHub(JobStore())
    watch = FleetWatch("sidecar-host", hub, ingest)
    lag = IngestLagRule(max_queue_s=1.0, window_s=60, min_requests=10)
    delay = FeedDelayRule(max_delay_s=0.5, window_s=60, min_frames=10)
    [quiet] = watch.ingest_lag(lag, T0)
    assert (quiet.key, quiet.holds) == ("ingest_lag:sidecar-host", False)
    for _ in range(9):
        ingest.queue_time.observe(2.0)
    assert not watch.ingest_lag(lag, T0 + S)[0].holds, "nine requests: fewer than min_requests"
    ingest.queue_time.observe(2.0)
    [check] = watch.ingest_lag(lag, T0 + 2 * S)
    condition = check.build()
    assert check.holds and condition.details["requests"] == 10 and 1.0 < condition.details["seconds"] <= 2.5
    for _ in range(200):
        ingest.queue_time.observe(0.01)
    assert not watch.ingest_lag(lag, T0 + 3 * S)[0].holds, "ten slow requests of 210 are under 5%"
    # A minute later the slow requests have left the window.
    assert watch.ingest_lag(lag, T0 + 70 * S)[0].build().details["requests"] == 0

    for _ in range(20):
        hub.send_delay["job_progress"].observe(0.8)
    [slow] = watch.feed_delay(delay, T0)
    assert not slow.holds, "the first reading only starts the window"
    for _ in range(20):
        hub.send_delay["job_log"].observe(0.8)
    [slow] = watch.feed_delay(delay, T0 + S)
    assert slow.holds and slow.build().summary.startswith("Live feed on sidecar-host is slow: p95 delay")
