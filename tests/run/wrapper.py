"""Running ``jobpulse run`` as a real process, and finding its job on a real sidecar."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from jobpulse.client import JobSummary, LogLine
from jobpulse.client.jobs import Status
from tests.support.job_scripts import REPO, job_env
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

JOBPULSE_RUN = [sys.executable, "-m", "jobpulse", "run"]


def unique(name: str) -> str:
    """A job name no other test uses, so tests can share a sidecar."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def script(tmp_path: Path, source: str) -> str:
    """Write a Python script (dedented) and return its path."""
    path = tmp_path / f"script-{uuid.uuid4().hex[:8]}.py"
    path.write_text(textwrap.dedent(source))
    return str(path)


def run(args: list[str], endpoint: str | None, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[bytes]:
    """``jobpulse run ARGS`` to its end, with its output captured as bytes."""
    return subprocess.run(
        [*JOBPULSE_RUN, *args], env=job_env(endpoint, **env), capture_output=True, timeout=timeout, cwd=REPO
    )


def start(args: list[str], endpoint: str | None, **env: str) -> subprocess.Popen[bytes]:
    """``jobpulse run ARGS`` started, its stdout and stderr pipes to read."""
    return subprocess.Popen(
        [*JOBPULSE_RUN, *args], env=job_env(endpoint, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )


def job_named(sidecar: SidecarProcess, name: str, timeout: float = 20, status: Status | None = None) -> JobSummary:
    """The one job of that name, once the sidecar has it (with that status, when given)."""
    statuses = None if status is None else [status]
    [job] = wait_for(lambda: sidecar.client.jobs(name=name, status=statuses).items, timeout=timeout)
    return job


def log_lines(sidecar: SidecarProcess, job_id: str) -> list[LogLine]:
    return list(sidecar.client.iter_logs(job_id))
