"""docs/deployment.md and deploy/: the YAML parses, says what the prose says, and names routes the
sidecar has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "deployment.md").read_text()
COLLECTOR = REPO / "deploy" / "otel-collector.yaml"
MANIFESTS = REPO / "deploy" / "kubernetes" / "jobpulse.yaml"


def yaml_blocks() -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", DOC, flags=re.MULTILINE | re.DOTALL)


def by_kind(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {document["kind"]: document for document in documents}


def test_every_yaml_block_of_the_page_parses():
    blocks = yaml_blocks()
    assert len(blocks) == 3
    for block in blocks:
        assert isinstance(yaml.safe_load(block), dict)


def test_the_collector_forwards_logs_and_traces_to_the_sidecar_with_the_token():
    text = COLLECTOR.read_text()
    assert text in yaml_blocks(), "the page shows deploy/otel-collector.yaml as it is"
    config = yaml.safe_load(text)
    exporter = config["exporters"]["otlphttp/jobpulse"]
    assert exporter["endpoint"].endswith(":4318")
    assert exporter["headers"] == {"Authorization": "Bearer ${env:JOBPULSE_TOKEN}"}
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"logs", "traces"}
    for pipeline in pipelines.values():
        assert "otlphttp/jobpulse" in pipeline["exporters"]
        assert set(pipeline["receivers"]) <= set(config["receivers"])
        assert set(pipeline["processors"]) <= set(config["processors"])
        assert set(pipeline["exporters"]) <= set(config["exporters"])


def test_the_kubernetes_manifests_hold_together(tmp_path):
    documents = list(yaml.safe_load_all(MANIFESTS.read_text()))
    assert all({"apiVersion", "kind", "metadata"} <= set(document) for document in documents)
    kinds = by_kind(documents)
    assert set(kinds) == {"Secret", "Deployment", "Service", "Job"}
    secret, deployment, service = kinds["Secret"], kinds["Deployment"], kinds["Service"]

    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels == service["spec"]["selector"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    [port] = container["ports"]
    [service_port] = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"] and port["containerPort"] == service_port["port"] == 4318

    used_keys = {
        variable["valueFrom"]["secretKeyRef"]["key"]
        for pod in (deployment, kinds["Job"])
        for each in pod["spec"]["template"]["spec"]["containers"]
        for variable in each["env"]
        if "valueFrom" in variable
    }
    assert used_keys == set(secret["stringData"])

    probes = {name: container[name]["httpGet"]["path"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"))
    assert set(probes.values()) <= {route.path for route in app.routes}
    shown = next(yaml.safe_load(block) for block in yaml_blocks() if "readinessProbe" in block)
    assert shown == {name: container[name] for name in shown}, "the page shows the manifest's probes"


def test_the_bus_has_its_section():
    assert "\n## Replicas on Redis and PostgreSQL\n" in DOC
