"""End to end: a failing demo job -> Prometheus rule -> Alertmanager -> sidecar webhook -> Apprise -> receiver.

Nothing here is simulated: the demo's warehouse-db-load job really fails with sqlite3.IntegrityError
in its own process, the sidecar's /metrics shows it, Prometheus evaluates alerting/prometheus-rules.yml,
Alertmanager (with alerting/alertmanager.yml) posts to POST /api/alertmanager/webhook, and the sidecar
delivers the alert through its Apprise json:// channel to a loopback HTTP receiver.
"""

from __future__ import annotations

import pytest

from tests.observability.conftest import NOTIFY_PATH, Stack
from tests.support import loopback
from tests.support.polling import wait_for

pytestmark = pytest.mark.slow

SUMMARY = "Job warehouse-db-load failed with sqlite3.IntegrityError"


def test_prometheus_scrapes_the_sidecar(stack: Stack):
    targets = wait_for(lambda: [t for t in stack.prometheus.targets() if t["health"] == "up"], timeout=20)
    assert [target["labels"]["job"] for target in targets] == ["jobpulse-sidecar"]


def test_recording_rules_produce_series(stack: Stack):
    stack.prometheus.wait_for_query("instance_outcome:jobpulse_sidecar_ingest_records:rate1m", timeout=30)
    stack.prometheus.wait_for_query('status:jobpulse_jobs_active:max_over_instances{status="running"}', timeout=30)


def test_failed_demo_job_reaches_the_receiver_through_alertmanager(stack: Stack):
    # 1. Prometheus fires the rule for the demo job that fails.
    def firing() -> list[dict]:
        return [
            alert
            for alert in stack.prometheus.alerts()
            if alert["labels"].get("alertname") == "JobpulseJobFailed" and alert["state"] == "firing"
        ]

    alert = wait_for(firing, timeout=60, interval=0.25)[0]
    assert alert["labels"]["job_name"] == "warehouse-db-load"
    assert alert["labels"]["exception_type"] == "sqlite3.IntegrityError"
    assert alert["labels"]["severity"] == "critical"

    # 2. Alertmanager has it.
    wait_for(
        lambda: [a for a in stack.alertmanager.alerts() if a["labels"]["alertname"] == "JobpulseJobFailed"],
        timeout=30,
        interval=0.25,
    )

    # 3. The sidecar's Apprise channel delivered it to the receiver.
    received = stack.receiver.wait(NOTIFY_PATH, lambda item: SUMMARY in item.title + item.body, timeout=45)
    notification = received[0]
    assert notification.status == 200
    assert "alertname=JobpulseJobFailed" in notification.body
    assert "exception_type=sqlite3.IntegrityError" in notification.body

    # 4. The sidecar recorded it as an Alertmanager alert and counts the delivery on its channel.
    alerts = loopback.get(
        stack.sidecar_url + "/api/alerts", headers={"Authorization": f"Bearer {stack.viewer_token}"}, timeout=10
    ).json()
    items = alerts["items"] if isinstance(alerts, dict) else alerts
    assert any(item.get("rule") == "JobpulseJobFailed" for item in items), items

    def delivered() -> bool:
        return stack.prometheus.has_data('jobpulse_alert_notifications_sent_total{channel="loopback"} > 0')

    wait_for(delivered, timeout=20, interval=0.25)
    assert stack.prometheus.has_data('jobpulse_alerts_firing{rule="JobpulseJobFailed"} > 0')
