"""Running jobs in fresh subprocesses, so each test gets its own OpenTelemetry providers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def job_env(endpoint: str | None, **extra: str) -> dict[str, str]:
    """This process's environment without OTel/jobpulse settings, pointed at `endpoint`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "JOBPULSE_"))}
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    env.update(extra)
    return env


def run_script(
    script: str, endpoint: str | None, *, timeout: float = 30, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `script` (dedented) with ``python -c`` and wait for it."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=job_env(endpoint, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def start_script(script: str, endpoint: str | None, **env: str) -> subprocess.Popen[str]:
    """Start `script` with ``python -c`` without waiting; stdin, stdout and stderr are pipes."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=job_env(endpoint, **env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def by_seq(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda record: record["attributes"]["jobpulse.seq"])
