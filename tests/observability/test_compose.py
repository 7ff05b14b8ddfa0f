"""compose/: no Docker engine runs here, so everything short of `up` is checked.

docker-compose accepts the file; every file it mounts or builds from exists in the repository; the
Prometheus and Alertmanager configs it mounts pass promtool and amtool (with container paths mapped
back to the repository through the service's own mounts); and every address one service uses for
another names an existing service on a port that service listens on.
"""

from __future__ import annotations

import ast
import subprocess
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from jobpulse.sidecar.settings import load_settings
from tests.conftest import require_binary
from tests.support.grafana import REPO

COMPOSE = REPO / "compose" / "docker-compose.yml"


@cache
def _resolved() -> dict[str, Any]:
    binary = require_binary("docker-compose")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode == 0, f"docker-compose rejects {COMPOSE}:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


@pytest.fixture
def compose() -> dict[str, Any]:
    return _resolved()


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Bind mounts of a service: container path -> host path (named volumes left out)."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                found[volume["target"]] = Path(volume["source"])
            continue
        source, target = volume.split(":")[:2]
        if source.startswith("/"):
            found[target] = Path(source)
    return found


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """The repository file behind ``container_path`` in ``service``, through its bind mounts."""
    path = PurePosixPath(container_path)
    for target, source in sorted(mounts(service).items(), key=lambda item: -len(item[0])):
        if path == PurePosixPath(target) or PurePosixPath(target) in path.parents:
            return source / path.relative_to(target)
    raise AssertionError(f"{container_path} is not mounted from the repository")


def volumes(service: dict[str, Any]) -> dict[str, str]:
    """Named volumes of a service: container path -> volume name."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict) and volume.get("type") == "volume":
            found[volume["target"]] = volume["source"]
        elif isinstance(volume, str) and not volume.startswith(("/", ".")):
            source, target = volume.split(":")[:2]
            found[target] = source
    return found


def volume_holding(service: dict[str, Any], container_path: str) -> tuple[str, str]:
    """The named volume ``container_path`` of ``service`` lies in, and the path inside that volume."""
    path = PurePosixPath(container_path)
    for target, name in volumes(service).items():
        if PurePosixPath(target) in path.parents:
            return name, str(path.relative_to(target))
    raise AssertionError(f"{container_path} is in no named volume of the service")


def _sidecar_port() -> int:
    return load_settings(REPO / "compose" / "jobpulse.toml", environ={}).port


def listening(compose: dict[str, Any]) -> dict[str, set[int]]:
    """The ports each service listens on inside the compose network."""
    ports: dict[str, set[int]] = {name: set() for name in compose["services"]}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            ports[name].add(int(port["target"] if isinstance(port, dict) else str(port).split(":")[-1]))
    ports["sidecar"].add(_sidecar_port())
    collector = yaml.safe_load((REPO / "compose" / "otel-collector.yml").read_text())
    for protocol in collector["receivers"]["otlp"]["protocols"].values():
        ports["otel-collector"].add(int(protocol["endpoint"].rsplit(":", 1)[1]))
    for reader in collector["service"]["telemetry"]["metrics"]["readers"]:
        ports["otel-collector"].add(int(reader["pull"]["exporter"]["prometheus"]["port"]))
    ports["prometheus"].add(9090)
    ports["alertmanager"].add(9093)
    ports["grafana"].add(3000)
    if compose["services"]["jaeger"].get("environment", {}).get("COLLECTOR_OTLP_ENABLED") == "true":
        ports["jaeger"].update({4317, 4318})
    return ports


def assert_reaches(compose: dict[str, Any], address: str, what: str) -> None:
    """``address`` (a URL or host:port) names a compose service on a port it listens on."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    services = listening(compose)
    assert parts.hostname in services, f"{what}: {address} names no service of the compose file"
    assert parts.port in services[parts.hostname], (
        f"{what}: {parts.hostname} does not listen on {parts.port} (it does on {sorted(services[parts.hostname])})"
    )


def test_docker_compose_accepts_the_file(compose):
    assert {"sidecar", "prometheus", "alertmanager", "grafana", "otel-collector", "jaeger", "demo-jobs"} <= set(
        compose["services"]
    )


def test_every_mounted_and_built_file_exists(compose):
    for name, service in compose["services"].items():
        for target, source in mounts(service).items():
            assert source.exists(), f"{name} mounts {source} at {target}, which does not exist"
            assert REPO in source.parents, f"{name} mounts {source} from outside the repository"
        if "build" in service:
            context = Path(service["build"]["context"])
            assert (context / service["build"]["dockerfile"]).is_file()


def test_the_sidecar_image(compose):
    dockerfile = (REPO / "compose" / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert 'pip install ".[sidecar]"' in dockerfile
    assert 'CMD ["jobpulse", "sidecar", "--host", "0.0.0.0"]' in dockerfile
    for name in ("sidecar", "demo-jobs"):
        assert compose["services"][name]["build"]["context"] == str(REPO)
    # The compose sidecar's settings file is valid and makes it listen for the other containers.
    service = compose["services"]["sidecar"]
    settings = load_settings(host_path(service, service["environment"]["JOBPULSE_CONFIG"]), environ={})
    assert settings.host == "0.0.0.0"
    assert any(str(port.get("target")) == str(settings.port) for port in service["ports"])


def test_prometheus_config_passes_promtool_and_scrapes_existing_services(compose, tmp_path):
    service = compose["services"]["prometheus"]
    config_flag = next(arg for arg in service["command"] if arg.startswith("--config.file="))
    config = yaml.safe_load(host_path(service, config_flag.split("=", 1)[1]).read_text())
    # promtool reads rule files from this machine: map the container paths back to the repository.
    config["rule_files"] = [str(host_path(service, path)) for path in config["rule_files"]]
    assert config["rule_files"] == [str(REPO / "alerting" / "prometheus-rules.yml")]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [require_binary("promtool"), "check", "config", str(checked)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr

    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert "jobpulse-sidecar" in jobs, "the rules and dashboards expect the scrape job jobpulse-sidecar"
    for job in jobs.values():
        for target in (t for static in job["static_configs"] for t in static["targets"]):
            if target.startswith("localhost:"):
                assert target == "localhost:9090"  # Prometheus itself
                continue
            assert_reaches(compose, target, f"scrape job {job['job_name']}")
    for manager in config["alerting"]["alertmanagers"]:
        for target in (t for static in manager["static_configs"] for t in static["targets"]):
            assert_reaches(compose, target, "Prometheus' Alertmanager")
    assert "--enable-feature=exemplar-storage" in service["command"]


def test_alertmanager_config_passes_amtool_and_calls_the_sidecar(compose):
    service = compose["services"]["alertmanager"]
    config_flag = next(arg for arg in service["command"] if arg.startswith("--config.file="))
    path = host_path(service, config_flag.split("=", 1)[1])
    assert path == REPO / "alerting" / "alertmanager.yml"
    result = subprocess.run(
        [require_binary("amtool"), "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert_reaches(compose, hook["url"], f"Alertmanager receiver {receiver['name']}")
            assert urlsplit(hook["url"]).path == "/api/alertmanager/webhook"


def test_grafana_is_provisioned_with_the_dashboards(compose):
    service = compose["services"]["grafana"]
    provisioning = host_path(service, "/etc/grafana/provisioning")
    assert provisioning == REPO / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "jobpulse.yml").read_text())["datasources"]
    for source in datasources:
        assert_reaches(compose, source["url"], f"Grafana data source {source['name']}")
    assert {source["type"] for source in datasources} == {"prometheus", "jaeger"}
    providers = yaml.safe_load((provisioning / "dashboards" / "jobpulse.yml").read_text())["providers"]
    for provider in providers:
        folder = host_path(service, provider["options"]["path"])
        assert sorted(p.name for p in folder.glob("*.json")) == [
            "job-detail.json",
            "jobs-overview.json",
            "sidecar-health.json",
        ]
    home = service["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_path(service, home).is_file()


def test_collector_forwards_logs_to_the_sidecar_and_traces_to_jaeger(compose):
    service = compose["services"]["otel-collector"]
    config_flag = next(arg for arg in service["command"] if arg.startswith("--config="))
    config = yaml.safe_load(host_path(service, config_flag.split("=", 1)[1]).read_text())
    pipelines = config["service"]["pipelines"]
    for pipeline in pipelines.values():
        for kind in ("receivers", "processors", "exporters"):
            for name in pipeline.get(kind, []):
                assert name in config[kind], f"pipeline uses undefined {kind[:-1]} {name}"
    for extension in config["service"].get("extensions", []):
        assert extension in config["extensions"]
    assert pipelines["logs"]["exporters"] == ["otlphttp/jobpulse"]
    assert_reaches(compose, config["exporters"]["otlphttp/jobpulse"]["endpoint"], "collector logs exporter")
    assert pipelines["traces"]["exporters"] == ["otlp/jaeger"]
    assert_reaches(compose, config["exporters"]["otlp/jaeger"]["endpoint"], "collector traces exporter")
    assert compose["services"]["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_demo_jobs_send_through_the_collector(compose):
    service = compose["services"]["demo-jobs"]
    assert_reaches(compose, service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"], "demo jobs' OTLP endpoint")
    script = host_path(service, service["command"][-1])
    tree = ast.parse(script.read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {"jobpulse.sidecar.demo.fake_api", "jobpulse.sidecar.demo.jobs"} <= imported


def test_readme_says_how_to_bring_the_stack_up():
    readme = (REPO / "README.md").read_text()
    assert "docker compose -f compose/docker-compose.yml" in readme


def test_the_senders_get_tokens_the_tokens_service_makes(compose):
    services = compose["services"]
    assert services["sidecar"]["depends_on"]["tokens"]["condition"] == "service_completed_successfully"
    assert load_settings(host_path(services["sidecar"], "/etc/jobpulse/jobpulse.toml"), environ={}).auth_on
    tokens = services["tokens"]
    assert volumes(tokens)["/data"] == volumes(services["sidecar"])["/data"], "tokens go into the sidecar's database"
    script_path = host_path(tokens, tokens["command"][-1])
    made = {line.split()[1] for line in script_path.read_text().splitlines() if line.startswith("make_token ")}
    secrets_volume = {name: target for target, name in volumes(tokens).items()}

    def made_by_the_tokens_service(service: str, container_path: str) -> None:
        volume, relative = volume_holding(services[service], container_path)
        assert secrets_volume.get(volume) == "/secrets", f"{service} reads {container_path} from {volume}"
        assert relative.removesuffix(".token") in made, f"the tokens service does not make {relative}"

    alertmanager = services["alertmanager"]
    config = yaml.safe_load(host_path(alertmanager, "/etc/alertmanager/alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            made_by_the_tokens_service("alertmanager", hook["http_config"]["authorization"]["credentials_file"])
    collector = services["otel-collector"]
    config = yaml.safe_load(host_path(collector, "/etc/otelcol/config.yml").read_text())
    authenticator = config["exporters"]["otlphttp/jobpulse"]["auth"]["authenticator"]
    made_by_the_tokens_service("otel-collector", config["extensions"][authenticator]["filename"])
