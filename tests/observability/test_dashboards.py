"""grafana/: valid dashboards and provisioning, and every panel query returns data from a real Prometheus
scraping a real sidecar that runs the demo jobs."""

from __future__ import annotations

import pytest
import yaml

from tests.support import grafana
from tests.support.grafana import REPO, dashboard_paths, load, panels, queries, variables
from tests.support.polling import wait_for
from tests.support.prometheus import PrometheusServer

DATASOURCE_UID = "jobpulse-prometheus"
PROVISIONING = REPO / "grafana" / "provisioning"
EXPECTED = {"jobpulse-overview", "jobpulse-job-detail", "jobpulse-sidecar-health"}


def test_provisioning_declares_the_datasource_uid_the_dashboards_use():
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "jobpulse.yml").read_text())
    assert datasources["apiVersion"] == 1
    by_uid = {source["uid"]: source for source in datasources["datasources"]}
    assert by_uid[DATASOURCE_UID]["type"] == "prometheus"
    assert by_uid[DATASOURCE_UID]["url"] == "http://prometheus:9090"
    destination = by_uid[DATASOURCE_UID]["jsonData"]["exemplarTraceIdDestinations"][0]
    assert destination["name"] == "trace_id" and destination["datasourceUid"] in by_uid
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "jobpulse.yml").read_text())["providers"]
    assert [provider["type"] for provider in providers] == ["file"]


@pytest.mark.parametrize("path", dashboard_paths(), ids=lambda path: path.name)
def test_dashboard_is_valid_grafana_json(path):
    dashboard = load(path)
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] in EXPECTED and dashboard["title"]
    assert "jobpulse" in dashboard["tags"]
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert target["expr"].strip()
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    for variable in variables(dashboard):
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID


def test_all_three_dashboards_exist():
    assert {load(path)["uid"] for path in dashboard_paths()} == EXPECTED


def test_dashboards_link_to_the_job_in_the_sidecar():
    text = {path.name: path.read_text() for path in dashboard_paths()}
    assert "${sidecar_url}/api/jobs/${job_id}" in text["job-detail.json"]
    assert "${sidecar_url}/api/jobs/${__data.fields.job_id}" in text["jobs-overview.json"]
    for name in ("job-detail.json", "jobs-overview.json"):
        sidecar_url = [
            var for var in variables(load(REPO / "grafana" / "dashboards" / name)) if var["name"] == "sidecar_url"
        ]
        assert sidecar_url and sidecar_url[0]["type"] in ("textbox", "constant")


def _missing(prometheus: PrometheusServer, dashboard: dict, values: dict[str, str]) -> list[str]:
    return [title for title, expr in queries(dashboard) if not prometheus.has_data(grafana.substitute(expr, values))]


@pytest.mark.slow
@pytest.mark.parametrize("path", dashboard_paths(), ids=lambda path: path.name)
def test_every_panel_query_returns_data(stack, path):
    """Variables are resolved through Prometheus as Grafana would (label_values / query_result), then
    every panel's PromQL is run with them substituted; each must return at least one finite value for
    some choice of the variables."""
    dashboard = load(path)
    prometheus = stack.prometheus
    best: list[tuple[dict[str, str], list[str]]] = []

    def complete() -> bool:
        for values in grafana.assignments(dashboard, prometheus):
            missing = _missing(prometheus, dashboard, values)
            if not missing:
                return True
            if not best or len(missing) <= len(best[0][1]):
                best[:] = [(values, missing)]
        return False

    try:
        wait_for(complete, timeout=75, interval=0.5)
    except AssertionError:
        values, missing = best[0] if best else ({}, ["(no value for the variables)"])
        pytest.fail(f"{path.name}: with {values}, no data for {missing}\n{stack.log()}")
