"""Every rule against a real sidecar and real job processes: it fires, notifies once through a real
Apprise channel, reaches live-feed clients, and resolves. Also silences and Alertmanager's webhook."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from jobpulse.client import AlertUpdate, Filters
from tests.alerting.conftest import FLEET_RULES, rules_off, start_sidecar
from tests.alerting.jobs import BURST, FAILING, JobProcess, unique
from tests.alerting.receivers import HttpReceiver
from tests.support import loopback
from tests.support.feed_watch import FeedWatch
from tests.support.polling import wait_for

CONFIG = """
heartbeat_window_s = 1.0
lost_check_interval_s = 0.2

[alerting]
evaluation_interval_s = 0.1
group_window_s = 0.5
repeat_interval_s = 0

[[alerting.channels]]
name = "hook"
url = "{hook}"
tags = ["ops"]

[[alerting.channels]]
name = "capacity"
url = "{capacity}"
tags = ["capacity"]

[alerting.delivery]
base_delay_s = 0.05
max_delay_s = 0.2

[alerting.rules.job_failed]
channels = ["ops"]

[alerting.rules.job_overdue]
channels = ["ops"]

[alerting.rules.job_predicted_overrun]
channels = ["ops"]
min_elapsed_s = 0.5

[alerting.rules.job_stalled]
channels = ["ops"]
after_s = 0.6
repeat_interval_s = 1.0

[alerting.rules.job_lost]
channels = ["ops"]

[alerting.rules.error_rate]
channels = ["ops"]
max_ratio = 0.2
min_processed = 20

[alerting.rules.resource_pressure]
channels = ["capacity"]
memory_percent = 1
disk_percent = 0
cpu_percent = 0
job_rss_mb = 100
sample_interval_s = 0.2

[alerting.rules.alertmanager]
channels = ["ops"]
""" + rules_off(FLEET_RULES)  # the fleet rules have their own tests (test_fleet.py)


@pytest.fixture(scope="module")
def hooks(module_receiver: HttpReceiver) -> HttpReceiver:
    return module_receiver


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, hooks: HttpReceiver):
    config = CONFIG.format(hook=hooks.url("json", "/hook"), capacity=hooks.url("json", "/capacity"))
    process = start_sidecar(tmp_path_factory.mktemp("alerting"), config)
    yield process
    process.stop_soon()


def alerts(sidecar: Any, **filters: Any) -> list[dict[str, Any]]:
    response = sidecar.get("/api/alerts", **filters)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def wait_alert(sidecar: Any, timeout: float = 20, **filters: Any) -> dict[str, Any]:
    return wait_for(lambda: next(iter(alerts(sidecar, **filters)), None), timeout=timeout)


def about(job: JobProcess, title_prefix: str = ""):
    """Notifications mentioning ``job`` (alone or in a group) whose title starts with ``title_prefix``."""
    return lambda message: job.id in message.body and message.title.startswith(title_prefix)


def feed_alert(job: JobProcess, state: str):
    return lambda m: m.data.job_id == job.id and m.data.state == state


def test_a_failed_job_says_what_where_and_what_to_do_and_resolves_when_a_run_completes(sidecar, hooks):
    with FeedWatch(sidecar.url, Filters(message_types=["alert"])) as feed:
        job = JobProcess(sidecar, FAILING, name=unique("orders-import"), job_type=unique("csv"))
        job.finish(code=1)
        [message] = hooks.wait("/hook", about(job))
        assert message.title == (
            f"[HIGH] Job {job.name} failed in step 'load': TimeoutError: warehouse API timed out after 30 s"
        )
        assert message.type == "failure"
        body = message.body
        assert "Processed 120 records, 0 failed." in body
        assert "WARNING slow response from the warehouse API" in body and "INFO read 120 rows from orders.csv" in body
        assert "Transient: retry the job." in body and "Severity high · rule job_failed" in body
        fired = feed.wait_for(AlertUpdate, feed_alert(job, "firing")).data
        assert (fired.rule, fired.severity, fired.details["step"]) == ("job_failed", "high", "load")
        assert fired.details["error_type"] == "TimeoutError"

        rerun = JobProcess(sidecar, name=job.name, job_type=job.job_type)
        rerun.finish()
        [resolved] = hooks.wait("/hook", about(job, "[RESOLVED]"))
        assert f"a later run of {job.name} completed (job id {rerun.id})" in resolved.body
        assert resolved.type == "success"
        assert feed.wait_for(AlertUpdate, feed_alert(job, "resolved"))
    [stored] = alerts(sidecar, job_id=job.id)
    assert (stored["state"], stored["rule"], stored["key"]) == ("resolved", "job_failed", f"job_failed:{job.id}")
    assert stored["last_notified_at"] and stored["resolved_at"]
    assert len(hooks.at("/hook", about(job))) == 2, "one notice when it fired, one when it resolved"


def test_a_burst_of_failing_jobs_of_one_type_is_one_grouped_notification(sidecar, hooks):
    job_type = unique("burst")
    process = JobProcess(sidecar, BURST, name=unique("crm-sync"), job_type=job_type, COUNT="25")
    process.finish()
    [message] = hooks.wait("/hook", lambda m: job_type in m.title)
    assert message.title == f"[HIGH] job_failed: 25 alerts of type {job_type} firing"
    assert message.body.count(f"Job {process.name}-") == 25
    assert "Check that the remote service or database is up" in message.body
    firing = alerts(sidecar, job_type=job_type, state="firing")
    assert len(firing) == 25
    deliveries = {
        row["delivery_id"]
        for row in sidecar.get("/api/notifications", rule="job_failed", limit=500).json()["items"]
        if row["alert_key"] in {alert["key"] for alert in firing}
    }
    assert len(deliveries) == 1 and len(hooks.at("/hook", lambda m: job_type in m.title)) == 1


def test_overdue_when_a_job_runs_past_its_expected_time_resolves_when_it_ends(sidecar, hooks):
    job = JobProcess(sidecar, EXPECTED="0.5")
    [message] = hooks.wait("/hook", about(job, f"[WARNING] Job {job.name} is overdue"))
    assert "expected 0.5 s" in message.title and "(from job)" in message.body
    job.finish()
    [resolved] = hooks.wait("/hook", about(job, f"[RESOLVED] Job {job.name} is overdue"))
    assert "the job ended (completed)" in resolved.body


def test_predicted_overrun_is_raised_before_the_job_overruns(sidecar, hooks):
    job = JobProcess(sidecar, TOTAL="400", EXPECTED="4", INTERVAL="0.02")
    [message] = hooks.wait("/hook", about(job, f"[WARNING] Job {job.name} will overrun"))
    [alert] = alerts(sidecar, rule="job_predicted_overrun", job_id=job.id)
    details = alert["details"]
    assert details["elapsed_s"] < details["expected_s"] == 4 < details["projected_s"]
    assert "records/s" in message.body
    job.finish()
    hooks.wait("/hook", about(job, f"[RESOLVED] Job {job.name} will overrun"))


def test_a_job_alive_but_not_advancing_is_stalled_repeats_and_resolves_when_it_moves(sidecar, hooks):
    job = JobProcess(sidecar, JOBPULSE_RESOURCES_INTERVAL="0.3")
    job.send("advance 5")
    [message] = hooks.wait("/hook", about(job, f"[WARNING] Job {job.name} is stalled"))
    assert "at 5 records" in message.title and "alive but not advancing" in message.body
    assert job.seen()["status"] == "running", "heartbeats keep coming: stalled, not lost"
    hooks.wait("/hook", about(job, f"[WARNING] Still firing: Job {job.name} is stalled"))
    job.send("advance 1")
    [resolved] = hooks.wait("/hook", about(job, f"[RESOLVED] Job {job.name} is stalled"))
    assert "the job is advancing again" in resolved.body
    [alert] = [a for a in alerts(sidecar, rule="job_stalled", job_id=job.id) if a["occurrence"] == "5@1"]
    assert alert["state"] == "resolved"
    job.finish()


def test_a_killed_job_is_lost_and_a_frozen_one_that_comes_back_resolves(sidecar, hooks):
    killed = JobProcess(sidecar, JOBPULSE_RESOURCES_INTERVAL="0.2")
    frozen = JobProcess(sidecar, JOBPULSE_RESOURCES_INTERVAL="0.2")
    killed.seen(), frozen.seen()
    killed.kill()
    frozen.send_signal(signal.SIGSTOP)
    try:
        for job in (killed, frozen):
            hooks.wait("/hook", lambda m, job=job: job.id in m.body and "is lost: nothing heard from it" in m.body)
            assert wait_alert(sidecar, rule="job_lost", job_id=job.id)["severity"] == "high"
        frozen.send_signal(signal.SIGCONT)
        [resolved] = hooks.wait("/hook", about(frozen, f"[RESOLVED] Job {frozen.name} is lost"))
        assert "the job was heard from again" in resolved.body
        assert alerts(sidecar, rule="job_lost", job_id=killed.id)[0]["state"] == "firing"
    finally:
        frozen.send_signal(signal.SIGCONT)
    frozen.finish()


def test_error_rate_over_its_threshold_fires_and_resolves_when_it_drops(sidecar, hooks):
    job = JobProcess(sidecar)
    job.send("advance 30 10")
    [message] = hooks.wait("/hook", about(job, f"[WARNING] Job {job.name}: 33.3% of records failed"))
    assert "(10 of 30; threshold 20.0%)" in message.title
    job.send("advance 200")
    [resolved] = hooks.wait("/hook", about(job, f"[RESOLVED] Job {job.name}: 33.3% of records failed"))
    assert "the error rate is back under its threshold" in resolved.body
    job.finish()


def test_resource_pressure_on_the_host_and_in_a_job_while_it_runs(sidecar, hooks):
    job = JobProcess(sidecar, JOBPULSE_RESOURCES_INTERVAL="0.2")
    job.seen()
    job.send("alloc 150")
    [rss] = hooks.wait("/capacity", about(job, f"[WARNING] Job {job.name} uses"))
    assert "threshold 100 MB" in rss.title
    host = wait_alert(
        sidecar, rule="resource_pressure", state="firing", key=f"resource_pressure:host:{job.seen()['host']}:memory"
    )
    assert host["details"]["percent"] > 1 and host["details"]["threshold_percent"] == 1
    hooks.wait("/capacity", lambda m: m.title.startswith(f"[WARNING] Host {host['host']}: memory"))
    job.finish()
    hooks.wait("/capacity", about(job, f"[RESOLVED] Job {job.name} uses"))
    wait_for(lambda: alerts(sidecar, key=host["key"], state="resolved"), timeout=10)


def test_silences_mute_notifications_and_are_listed_and_lifted(sidecar, hooks):
    name = unique("maintenance-window")
    response = sidecar.post(
        "/api/alerts/silences", json={"job_name": name, "duration_s": 600, "created_by": "ops", "reason": "db upgrade"}
    )
    assert response.status_code == 201, response.text
    silence = response.json()
    assert (silence["job_name"], silence["active"], silence["created_by"]) == (name, True, "ops")
    assert silence["id"] in {item["id"] for item in sidecar.get("/api/alerts/silences").json()}

    muted = JobProcess(sidecar, FAILING, name=name, job_type=unique("csv"))
    loud = JobProcess(sidecar, FAILING, name=unique("loud"), job_type=unique("csv"))
    muted.finish(code=1), loud.finish(code=1)
    hooks.wait("/hook", about(loud))
    alert = wait_alert(sidecar, job_id=muted.id)
    assert alert["silenced"] is True and alert["last_notified_at"] is None
    assert sidecar.get("/api/notifications", alert_key=alert["key"]).json()["items"] == []
    assert not hooks.at("/hook", about(muted))

    assert loopback.delete(f"{sidecar.url}/api/alerts/silences/{silence['id']}").status_code == 204
    missing = loopback.delete(f"{sidecar.url}/api/alerts/silences/{silence['id']}")
    assert missing.status_code == 404 and f"silence {silence['id']} not found" in missing.json()["detail"]
    hooks.wait("/hook", about(muted, "[HIGH]")), "lifting the silence sends what it held back"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"duration_s": 60}, "rule"),
        ({"rule": "job_failed"}, "until"),
        ({"rule": "job_failed", "until": "2001-01-01T00:00:00Z"}, "until"),
        ({"rule": "job_failed", "duration_s": -5}, "duration_s"),
        ({"rule": "job_failed", "duration_s": 5, "muted": True}, "muted"),
    ],
)
def test_invalid_silences_are_rejected_naming_the_field(sidecar, body, field):
    response = sidecar.post("/api/alerts/silences", json=body)
    assert response.status_code == 422, response.text
    assert field in response.text


def alertmanager_payload(status: str, fingerprint: str, job_name: str) -> dict[str, Any]:
    """A payload in the shape Alertmanager's webhook documentation gives (version 4)."""
    alert = {
        "status": status,
        "labels": {
            "alertname": "JobpulseJobFailureRateHigh",
            "severity": "critical",
            "job_name": job_name,
            "job_type": "csv_import",
            "instance": "sidecar-1:4318",
            "job": "jobpulse",
        },
        "annotations": {
            "summary": f"{job_name} fails more than 20% of its runs",
            "description": "3 of the last 10 runs failed.",
        },
        "startsAt": "2026-11-23T05:50:00.000Z",
        "endsAt": "2026-11-23T06:10:00.000Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=jobpulse_job_failure_ratio+%3E+0.2",
        "fingerprint": fingerprint,
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="JobpulseJobFailureRateHigh"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "jobpulse-sidecar",
        "groupLabels": {"alertname": "JobpulseJobFailureRateHigh"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
    }


def test_alertmanager_alerts_route_through_the_same_channels_dedupe_and_history(sidecar, hooks):
    fingerprint, job_name = unique("fp"), unique("nightly-orders")
    firing = alertmanager_payload("firing", fingerprint, job_name)
    first = sidecar.post("/api/alertmanager/webhook", json=firing)
    assert first.status_code == 200 and first.json() == {"received": 1, "fired": 1, "resolved": 0, "unchanged": 0}
    again = sidecar.post("/api/alertmanager/webhook", json=firing)  # Alertmanager re-sends on group_interval
    assert again.json()["unchanged"] == 1
    [message] = hooks.wait("/hook", lambda m: job_name in m.title)
    assert message.title == f"[CRITICAL] {job_name} fails more than 20% of its runs"
    assert "3 of the last 10 runs failed." in message.body and "http://prometheus:9090/graph" in message.body
    alert = wait_alert(sidecar, key=f"alertmanager:{fingerprint}")
    assert (alert["source"], alert["rule"], alert["job_name"], alert["state"]) == (
        "alertmanager",
        "JobpulseJobFailureRateHigh",
        job_name,
        "firing",
    )

    resolved = sidecar.post("/api/alertmanager/webhook", json=alertmanager_payload("resolved", fingerprint, job_name))
    assert resolved.json()["resolved"] == 1
    hooks.wait("/hook", lambda m: m.title == f"[RESOLVED] {job_name} fails more than 20% of its runs")
    assert len(hooks.at("/hook", lambda m: job_name in m.title)) == 2
    assert alerts(sidecar, key=f"alertmanager:{fingerprint}")[0]["state"] == "resolved"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda p: p["alerts"][0]["labels"].pop("alertname"), "alertname"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
    ],
)
def test_invalid_alertmanager_payloads_get_422_naming_the_field(sidecar, change, field):
    payload = alertmanager_payload("firing", "f0", "x")
    change(payload)
    response = sidecar.post("/api/alertmanager/webhook", json=payload)
    assert response.status_code == 422, response.text
    assert field in response.text
