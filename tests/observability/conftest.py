"""One real observability stack for the whole package, started once:

    demo jobs -> sidecar (jobpulse demo) <- Prometheus (scrapes every 1 s, evaluates alerting/ rules)
                      |  ^                           |
    live-feed client <+  |                           |
                      |  POST /api/alertmanager/webhook
                 Alertmanager  <---------------------+ (alerts)
    sidecar -> Apprise json:// -> loopback HTTP receiver

The sidecar is ``jobpulse demo`` (the demo's real job processes, one of which fails) configured with
one Apprise channel that posts to a loopback receiver. Authentication is on, /metrics included: the
demo's jobs send with the token the demo makes them, Prometheus scrapes and Alertmanager posts with
tokens made by ``jobpulse tokens create``, as docs/security.md tells. One live-feed client (a viewer)
reads the feed throughout, so the feed's own figures (its send delay) have something to measure.
Alertmanager runs the repository's alerting/alertmanager.yml with only the webhook address (compose's
``sidecar:4318``), its token file and group_wait changed for the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.alerting.conftest import FLEET_RULES, JOB_RULES, rules_off
from tests.alerting.receivers import HttpReceiver
from tests.conftest import require_binary
from tests.support import loopback
from tests.support.grafana import REPO
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.support.prometheus import AlertmanagerServer, PrometheusServer

RULES = REPO / "alerting" / "prometheus-rules.yml"
ALERTMANAGER_CONFIG = REPO / "alerting" / "alertmanager.yml"
NOTIFY_PATH = "/alertmanager"

# Demo jobs run this many times faster than in `jobpulse demo`: each lasts a few seconds, so at any
# moment some are running while others have finished (or failed).
DEMO_SPEED = 4


@dataclass
class Stack:
    sidecar_url: str
    viewer_token: str
    prometheus: PrometheusServer
    alertmanager: AlertmanagerServer
    receiver: HttpReceiver
    demo: subprocess.Popen[bytes]
    demo_log: Path

    def log(self) -> str:
        return self.demo_log.read_text(errors="replace")[-4000:]


def sidecar_config(receiver: HttpReceiver) -> str:
    """The demo sidecar's settings: one Apprise channel, used by Alertmanager's alerts only."""
    disabled = rules_off((*JOB_RULES, *FLEET_RULES))
    return f"""
auth_enabled = true
metrics_require_token = true

[alerting]
group_window_s = 0

[[alerting.channels]]
name = "loopback"
url = "{receiver.url("json", NOTIFY_PATH)}"
tags = ["alertmanager"]

[alerting.rules.alertmanager]
channels = ["alertmanager"]

{disabled}
"""


def alertmanager_config(sidecar_url: str, token_file: Path) -> dict:
    """The repository's Alertmanager config, pointed at this sidecar with this token, and quicker to send."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert hook["url"] == "http://sidecar:4318/api/alertmanager/webhook"
            hook["url"] = f"{sidecar_url}/api/alertmanager/webhook"
            assert hook["http_config"]["authorization"]["credentials_file"].endswith("/alertmanager.token")
            hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    config["route"].update(group_wait="1s", group_interval="2s")
    return config


def _clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "JOBPULSE_"))}


def _token_file(workdir: Path, config: Path, name: str, role: str) -> Path:
    """A token made as docs/security.md says, its last line kept in a file as Prometheus and Alertmanager read it."""
    env = _clean_env()
    env["XDG_DATA_HOME"] = str(workdir)  # the demo's default database, where the demo will read the token
    result = subprocess.run(
        [sys.executable, "-m", "jobpulse.sidecar", "tokens", "create", name, "--role", role, "--config", str(config)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    path = workdir / f"{name}.token"
    path.write_text(result.stdout.splitlines()[-1])
    return path


def _start_demo(workdir: Path, port: int, config: Path) -> tuple[subprocess.Popen[bytes], Path]:
    env = _clean_env()
    env["JOBPULSE_RESOURCES_INTERVAL"] = "1"  # the demo jobs' resource samples (read by the job side only)
    env["XDG_DATA_HOME"] = str(workdir)  # the demo's default database, in its own directory
    log_path = workdir / "demo.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobpulse.sidecar",
                "demo",
                "--speed",
                str(DEMO_SPEED),
                "--port",
                str(port),
                "--config",
                str(config),
                "--duration",
                "600",
            ],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log_path


@contextlib.contextmanager
def _feed_client(ws_url: str, token: str) -> Iterator[None]:
    """A live-feed client reading (and dropping) every frame in a thread, until the block ends."""
    headers = {"Authorization": f"Bearer {token}"}
    with connect(ws_url, open_timeout=10, compression=None, additional_headers=headers) as connection:

        def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                for _ in connection:
                    pass

        reader = threading.Thread(target=read, name="feed-client", daemon=True)
        reader.start()
        try:
            yield
        finally:
            connection.close()
            reader.join(10)


def _stop_demo(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the demo's own job processes, if any were left
    process.wait()


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[..., PrometheusServer]]:
    """A factory of real Prometheus servers (stopped after the test):

    prometheus = start_prometheus(scrape={"jobpulse-sidecar": [f"127.0.0.1:{port}"]}, rule_files=[RULES])
    """
    binary = require_binary("prometheus")
    started: list[PrometheusServer] = []

    def start(**options: Any) -> PrometheusServer:
        server = PrometheusServer(tmp_path / f"prometheus-{len(started)}", binary, **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_binary = require_binary("prometheus")
    alertmanager_binary = require_binary("prometheus-alertmanager")
    workdir = tmp_path_factory.mktemp("observability")
    with HttpReceiver() as receiver:
        port = free_port()
        sidecar_url = f"http://127.0.0.1:{port}"
        config = workdir / "jobpulse.toml"
        config.write_text(sidecar_config(receiver))
        alertmanager_token = _token_file(workdir, config, "alertmanager", "ingest")
        prometheus_token = _token_file(workdir, config, "prometheus", "viewer")
        viewer_token = _token_file(workdir, config, "observer", "viewer").read_text()
        demo, demo_log = _start_demo(workdir, port, config)
        alertmanager = prometheus = None
        try:

            def ready() -> bool:
                if demo.poll() is not None:
                    raise AssertionError(f"jobpulse demo exited with {demo.returncode}:\n{demo_log.read_text()}")
                try:
                    return loopback.get(sidecar_url + "/readyz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(ready, timeout=30, interval=0.1)
            alertmanager = AlertmanagerServer(
                workdir / "alertmanager", alertmanager_binary, alertmanager_config(sidecar_url, alertmanager_token)
            ).start()
            prometheus = PrometheusServer(
                workdir / "prometheus",
                prometheus_binary,
                scrape={"jobpulse-sidecar": [f"127.0.0.1:{port}"]},
                rule_files=[RULES],
                alertmanagers=[f"127.0.0.1:{alertmanager.port}"],
                credentials_file=prometheus_token,
            ).start()
            with _feed_client(f"ws://127.0.0.1:{port}/ws", viewer_token):
                yield Stack(sidecar_url, viewer_token, prometheus, alertmanager, receiver, demo, demo_log)
        finally:
            if prometheus is not None:
                prometheus.stop()
            if alertmanager is not None:
                alertmanager.stop()
            _stop_demo(demo)
