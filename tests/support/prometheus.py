"""Real Prometheus and Alertmanager servers for tests, on free loopback ports, in temp directories.

    prometheus = PrometheusServer(tmp_path, require_binary("prometheus"),
                                  scrape={"jobpulse-sidecar": [f"127.0.0.1:{port}"]},
                                  rule_files=[RULES]).start()
    prometheus.wait_for_query('jobpulse_jobs_active{status="running"} > 0')
    prometheus.stop()

Prometheus scrapes and evaluates rules every second (``interval``) with exemplar storage on; the
query helpers raise on any API error, so a bad PromQL expression fails the test with Prometheus's
message.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import loopback
from tests.support.polling import wait_for
from tests.support.ports import free_port


class PromQLError(AssertionError):
    """Prometheus refused a query."""


class ServerProcess:
    """A server binary run as a subprocess with its output in a log file; subclasses say how to start
    it (``args``) and when it is ready (``ready``)."""

    name = "server"

    def __init__(self, workdir: Path, binary: str) -> None:
        self.workdir = workdir
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> Any:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, *self.args()], stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        wait_for(self.ready, timeout=timeout, interval=0.05)
        return self

    def ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
        try:
            return loopback.get(self.url + "/-/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class PrometheusServer(ServerProcess):
    """``prometheus`` with a generated config: scrape jobs, rule files and Alertmanagers."""

    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        binary: str,
        *,
        scrape: dict[str, Sequence[str]] | None = None,
        rule_files: Sequence[Path] = (),
        alertmanagers: Sequence[str] = (),
        interval: str = "1s",
        credentials_file: Path | None = None,
    ) -> None:
        super().__init__(workdir, binary)
        self.config_path = workdir / "prometheus.yml"
        self.storage = workdir / "prometheus-data"
        self.config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(targets)}]}
                for job, targets in (scrape or {}).items()
            ],
        }
        if credentials_file is not None:
            # A bearer token for every scrape (a jobpulse sidecar with metrics_require_token).
            for job in self.config["scrape_configs"]:
                job["authorization"] = {"credentials_file": str(credentials_file)}
        if rule_files:
            self.config["rule_files"] = [str(Path(path).resolve()) for path in rule_files]
        if alertmanagers:
            self.config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}

    def args(self) -> list[str]:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        return [
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--enable-feature=exemplar-storage",
            "--log.level=warn",
        ]

    # ---- HTTP API ------------------------------------------------------------------------------

    def api(self, path: str, **params: Any) -> Any:
        """GET ``/api/v1/{path}``; the ``data`` of a success, PromQLError otherwise."""
        response = loopback.get(f"{self.url}/api/v1/{path}", params=params, timeout=10.0)
        body = response.json()
        if body.get("status") != "success":
            raise PromQLError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; the result vector (scalars and strings come back as one-element lists)."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        if data["resultType"] == "matrix":
            return [
                {"metric": item["metric"], "value": item["values"][-1]} for item in data["result"] if item["values"]
            ]
        return data["result"]

    def values(self, expr: str) -> list[float]:
        return [float(item["value"][1]) for item in self.query(expr)]

    def has_data(self, expr: str) -> bool:
        """Whether ``expr`` returns at least one finite value now."""
        return any(math.isfinite(value) for value in self.values(expr))

    def wait_for_query(
        self, expr: str, timeout: float = 30.0, check: Callable[[list[dict[str, Any]]], Any] | None = None
    ) -> list[dict[str, Any]]:
        """Poll ``expr`` until it returns data (that passes ``check``); return the result."""

        def ready() -> list[dict[str, Any]] | None:
            result = self.query(expr)
            if result and (check is None or check(result)):
                return result
            return None

        return wait_for(ready, timeout=timeout, interval=0.25)

    def label_values(self, label: str, match: str | None = None) -> list[str]:
        """What Grafana's ``label_values(match, label)`` lists."""
        params = {"match[]": match} if match else {}
        return self.api(f"label/{label}/values", **params)

    def targets(self) -> list[dict[str, Any]]:
        return self.api("targets")["activeTargets"]

    def alerts(self) -> list[dict[str, Any]]:
        return self.api("alerts")["alerts"]

    def exemplars(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        return self.api("query_exemplars", query=expr, start=start, end=end)


class AlertmanagerServer(ServerProcess):
    """``prometheus-alertmanager`` with the given config (a dict, written as YAML), clustering off."""

    name = "alertmanager"

    def __init__(self, workdir: Path, binary: str, config: dict[str, Any]) -> None:
        super().__init__(workdir, binary)
        self.config = config
        self.config_path = workdir / "alertmanager.yml"
        self.storage = workdir / "alertmanager-data"

    def args(self) -> list[str]:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        return [
            f"--config.file={self.config_path}",
            f"--storage.path={self.storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    def alerts(self) -> list[dict[str, Any]]:
        response = loopback.get(f"{self.url}/api/v2/alerts", timeout=10.0)
        response.raise_for_status()
        return response.json()
