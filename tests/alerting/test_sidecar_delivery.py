"""Delivery through real Apprise channels from a real sidecar: webhook (json, form) and email, retries
with growing delays, a channel that never works, test notifications, and secrets kept out of sight."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from jobpulse.client import Client
from tests.alerting.conftest import FLEET_RULES, rules_off, start_sidecar
from tests.alerting.jobs import FAILING, JobProcess, unique
from tests.alerting.receivers import HttpReceiver, SmtpReceiver

PASSWORD = "s3cret-pass"
TOKEN = "t0ken-in-a-header"

CONFIG = """
[alerting]
evaluation_interval_s = 0.1
group_window_s = 0.2

[alerting.delivery]
attempts = 3
base_delay_s = 0.4
max_delay_s = 2.0

[[alerting.channels]]
name = "flaky"
url = "{flaky}"
tags = ["ops"]

[[alerting.channels]]
name = "broken"
url = "{broken}"
tags = ["ops"]

[[alerting.channels]]
name = "form"
url = "{form}"
tags = ["ops", "chat"]

[[alerting.channels]]
name = "mail"
url = "{mail}"
tags = ["ops"]

[alerting.rules.job_failed]
channels = ["ops"]

[alerting.rules.resource_pressure]
enabled = false
""" + rules_off(FLEET_RULES)  # the fleet rules have their own tests (test_fleet.py)


@pytest.fixture(scope="module")
def hooks(module_receiver: HttpReceiver) -> HttpReceiver:
    return module_receiver


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, hooks: HttpReceiver, smtp: SmtpReceiver):
    hooks.fail("/flaky", 2)
    hooks.fail("/broken")
    config = CONFIG.format(
        flaky=hooks.url("json", "/flaky", credentials=f"etl:{PASSWORD}@"),
        broken=hooks.url("json", f"/broken?+X-Api-Token={TOKEN}"),
        form=hooks.url("form", "/form"),
        mail=smtp.url("oncall@example.com"),
    )
    process = start_sidecar(tmp_path_factory.mktemp("delivery"), config)
    yield process
    process.stop_soon()


@pytest.fixture(scope="module")
def failure(sidecar: Any, hooks: HttpReceiver) -> JobProcess:
    """One failed job, notified on every channel (both retrying ones are done when this returns)."""
    job = JobProcess(sidecar, FAILING, name=unique("warehouse-load"), job_type="db_load")
    job.finish(code=1)
    for path in ("/flaky", "/broken"):
        hooks.wait(path, count=3, timeout=20)
    return job


def test_every_kind_of_channel_gets_the_alert(failure, hooks, smtp):
    title = f"[HIGH] Job {failure.name} failed in step 'load': TimeoutError: warehouse API timed out after 30 s"
    [form] = hooks.at("/form")
    assert (form.title, form.type) == (title, "failure")
    assert failure.id in form.body and "Suggested actions:" in form.body
    mail = smtp.wait(lambda mail: failure.id in mail.body)
    assert mail.title == title and mail.path == "oncall@example.com"
    assert "TimeoutError: warehouse API timed out after 30 s" in mail.body and "Severity high" in mail.body


def test_a_flaky_channel_gets_three_attempts_with_growing_delays(failure, hooks):
    attempts = hooks.at("/flaky")
    assert [attempt.status for attempt in attempts] == [500, 500, 200]
    assert all(attempt.title == attempts[0].title for attempt in attempts)
    first_gap, second_gap = attempts[1].at - attempts[0].at, attempts[2].at - attempts[1].at
    # Equal jitter around 0.4 s then 0.8 s: [0.2, 0.4] then [0.4, 0.8].
    assert 0.2 <= first_gap < second_gap and second_gap >= 0.4


def test_a_dead_channel_records_its_failed_attempts_and_blocks_no_other(sidecar, failure, hooks):
    broken = hooks.at("/broken")
    assert [attempt.status for attempt in broken] == [500, 500, 500]
    assert hooks.at("/form")[0].at < broken[-1].at, "the working channel did not wait for the dead one"
    [row] = sidecar.get("/api/notifications", channel="broken").json()["items"]
    assert (row["result"], row["attempts"], row["event"]) == ("failed", 3, "fire")
    assert "error=500" in row["error"] and row["alert_key"] == f"job_failed:{failure.id}"
    by_channel = {row["channel"]: row for row in sidecar.get("/api/notifications", rule="job_failed").json()["items"]}
    assert {name: row["result"] for name, row in by_channel.items()} == {
        "flaky": "sent",
        "broken": "failed",
        "form": "sent",
        "mail": "sent",
    }
    assert by_channel["flaky"]["attempts"] == 3 and by_channel["form"]["attempts"] == 1
    channels = {channel["name"]: channel for channel in sidecar.get("/api/notifications/channels").json()}
    assert channels["broken"]["failed"] == 1 and channels["flaky"]["sent"] == 1
    broken_attempts = by_channel["broken"]["attempt_history"]
    assert [(a["attempt"], a["outcome"]) for a in broken_attempts] == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert all("error=500" in attempt["error"] for attempt in broken_attempts)


def test_each_attempt_is_listed_with_its_outcome_times_and_error(sidecar, failure, hooks):
    [row] = sidecar.get("/api/notifications", channel="flaky").json()["items"]
    history = row["attempt_history"]
    assert [(a["attempt"], a["outcome"]) for a in history] == [(1, "failed"), (2, "failed"), (3, "ok")]
    assert "error=500" in history[0]["error"] and "error=500" in history[1]["error"] and history[2]["error"] is None
    started = [datetime.fromisoformat(attempt["started_at"]) for attempt in history]
    finished = [datetime.fromisoformat(attempt["finished_at"]) for attempt in history]
    assert started[0] <= finished[0] <= started[1] <= finished[1] <= started[2] <= finished[2]
    assert all(0 <= attempt["duration_s"] < 5 for attempt in history)
    # Attempts are apart by the backoff at least: [0.2, 0.4] s, then [0.4, 0.8] s.
    assert (started[1] - started[0]).total_seconds() >= 0.2 and (started[2] - started[1]).total_seconds() >= 0.4
    assert len(hooks.at("/flaky")) == len(history), "one record per request the channel received"
    assert datetime.fromisoformat(row["sent_at"]) == finished[2]
    with Client(sidecar.url) as client:
        [notification] = client.notifications(channel="flaky").items
    assert [(a.attempt, a.outcome, a.finished_at) for a in notification.attempt_history] == [
        (number, outcome, at)
        for number, outcome, at in zip((1, 2, 3), ("failed", "failed", "ok"), finished, strict=True)
    ], "the typed client reads the same attempts"


def test_a_test_notification_goes_to_the_named_channel_or_tag(sidecar, hooks):
    response = sidecar.post("/api/notifications/test", json={"channel": "chat", "title": "ping from the tests"})
    assert response.status_code == 200, response.text
    assert [(r["channel"], r["result"], r["attempts"]) for r in response.json()["results"]] == [("form", "sent", 1)]
    assert hooks.at("/form", lambda m: m.title == "ping from the tests")
    missing = sidecar.post("/api/notifications/test", json={"channel": "pager"})
    assert missing.status_code == 404 and "no channel named or tagged 'pager'" in missing.json()["detail"]
    invalid = sidecar.post("/api/notifications/test", json={"title": "no channel"})
    assert invalid.status_code == 422 and "channel" in invalid.text


def test_channel_secrets_are_masked_in_the_api_and_never_logged(sidecar, failure):
    channels = sidecar.get("/api/notifications/channels")
    notifications = sidecar.get("/api/notifications", limit=500)
    for text in (channels.text, notifications.text, sidecar.log()):
        assert PASSWORD not in text and TOKEN not in text
    masked = {channel["name"]: channel["masked_url"] for channel in channels.json()}
    assert masked["flaky"].startswith("json://etl:****@127.0.0.1:")
    assert "+X-Api-Token=****" in masked["broken"]
