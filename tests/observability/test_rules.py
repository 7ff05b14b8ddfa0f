"""alerting/: the Prometheus rules pass promtool's checks and unit tests; the Alertmanager config amtool's."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.conftest import require_binary
from tests.support.grafana import REPO, dashboard_paths, load, queries
from tests.support.polling import wait_for

RULES = REPO / "alerting" / "prometheus-rules.yml"
RULE_TESTS = sorted((REPO / "alerting" / "tests").glob("*.yml"))
ALERTMANAGER = REPO / "alerting" / "alertmanager.yml"
METRICS_DOC = REPO / "docs" / "metrics.md"

# Series that Prometheus or prometheus-client's process collector provide, not documented as ours.
EXTERNAL = {"up", "scrape_duration_seconds", "process_resident_memory_bytes", "process_cpu_seconds_total"}


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_promtool_checks_the_rules():
    output = run(require_binary("promtool"), "check", "rules", str(RULES))
    assert "SUCCESS" in output


def test_promtool_unit_tests_pass():
    assert RULE_TESTS, "alerting/tests/ holds the rules' unit tests"
    output = run(require_binary("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert "SUCCESS" in output


def test_every_alert_has_a_severity_a_summary_and_a_unit_test():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    expected = {
        "JobpulseJobFailed",
        "JobpulseJobOverdue",
        "JobpulseJobStalled",
        "JobpulseSidecarDown",
        "JobpulseHighRejectRate",
        "JobpulseNotificationFailures",
        "JobpulseFleetFailureRate",
        "JobpulseQueueDepth",
        "JobpulseQueueWait",
        "JobpulseFeedDelay",
        "JobpulseIngestLag",
        "JobpulseFeedConnectionFailures",
    }
    assert expected <= {alert["alert"] for alert in alerts}
    for alert in alerts:
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, alert["alert"]
        assert alert["annotations"].get("summary"), alert["alert"]
        assert alert["alert"] in tested, f"{alert['alert']} has no promtool test that makes it fire"


def test_amtool_accepts_the_alertmanager_config():
    output = run(require_binary("amtool"), "check-config", str(ALERTMANAGER))
    assert "SUCCESS" in output


def test_alertmanager_routes_everything_to_the_sidecar_webhook():
    config = yaml.safe_load(ALERTMANAGER.read_text())
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    default = receivers[config["route"]["receiver"]]
    urls = [hook["url"] for hook in default["webhook_configs"]]
    assert urls == ["http://sidecar:4318/api/alertmanager/webhook"]
    assert default["webhook_configs"][0]["send_resolved"] is True


def _metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (recording rules' level:metric:operation names excluded)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return set(re.findall(r"(?<![:\w])((?:jobpulse|process)_\w+|up|scrape_duration_seconds)(?![:\w])", without_strings))


def _documented() -> set[str]:
    text = METRICS_DOC.read_text()
    return set(re.findall(r"`(jobpulse_[a-z0-9_]+)`", text))


def _family(name: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", name)


def test_every_metric_the_rules_and_dashboards_use_is_documented():
    documented = _documented()
    expressions = [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    expressions += [expr for path in dashboard_paths() for _, expr in queries(load(path))]
    used = set().union(*map(_metric_names, expressions))
    missing = {name for name in used - EXTERNAL if name not in documented and _family(name) not in documented}
    assert not missing, f"used by rules or dashboards but not in docs/metrics.md: {sorted(missing)}"


def test_a_real_prometheus_loads_the_rules_and_evaluates_them_without_errors(start_prometheus):
    prometheus = start_prometheus(rule_files=[RULES])

    def evaluated() -> list[dict]:
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        return rules if rules and all(rule["health"] == "ok" for rule in rules) else []

    rules = wait_for(evaluated, timeout=20, interval=0.2)
    assert len(rules) == 26
    # Nothing is scraped: the one alert (pending, it has a `for`) is "no sidecar target at all".
    alerts = wait_for(lambda: prometheus.alerts(), timeout=20, interval=0.2)
    assert [(alert["labels"]["alertname"], alert["state"]) for alert in alerts] == [("JobpulseSidecarDown", "pending")]
