"""``jobpulse demo``: the README's first command, run as a newcomer would (but faster)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from jobpulse.sidecar.demo.browser import can_open_browser
from tests.support import loopback
from tests.support.job_scripts import job_env
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.support.sidecar import SidecarProcess

ENDED = {"completed", "failed", "cancelled"}

# The jobpulse command, then a garbage collection: an asyncio future whose exception nobody
# retrieved is reported when it is collected, which otherwise happens at an unpredictable time.
COLLECTING_MAIN = """
import gc, sys
from jobpulse.sidecar.cli import main
try:
    main()
except SystemExit as stop:
    code = stop.code
gc.collect()
sys.exit(code)
"""


def test_demo_runs_every_job_once_and_exits(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jobpulse.sidecar",
            "demo",
            "--once",
            "--speed",
            "25",
            "--port",
            str(port),
            "--no-browser",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert f"Open the console:  http://127.0.0.1:{port}/\n" in output
    assert f"http://127.0.0.1:{port}/schema/openapi.json" in output
    assert f"ws://127.0.0.1:{port}/ws" in output
    assert "all demo jobs ran once" in output
    assert "warehouse_load failed (exit 1)" in output, "the demo shows a failing job too"
    for name in ("csv_import", "field_mapping", "api_upload"):
        assert f"{name} completed" in output


def running_jobs(port: int) -> set[str]:
    try:
        response = loopback.get(f"http://127.0.0.1:{port}/api/monitor/jobs", params={"status": "running"}, timeout=5)
    except httpx.HTTPError:
        return set()
    return {job["id"] for job in response.json()["items"]} if response.status_code == 200 else set()


def alive(process: subprocess.Popen[bytes], log_path: Path) -> bool:
    assert process.poll() is None, f"the demo exited with {process.returncode}:\n{log_path.read_text()}"
    return True


def test_ctrl_c_ends_the_running_jobs_as_cancelled_then_stops_cleanly(tmp_path):
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        # Its own session, so that the signal goes to its whole process group as a terminal's Ctrl+C does.
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                COLLECTING_MAIN,
                "demo",
                "--speed",
                "2",
                "--port",
                str(port),
                "--database-url",
                database_url,
                "--no-browser",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=job_env(None),
            start_new_session=True,
        )
    try:
        interrupted = wait_for(lambda: alive(process, log_path) and running_jobs(port), timeout=30, interval=0.1)
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log_path.read_text()
    assert process.returncode == 130, output
    for unwanted in ("Traceback", "ERROR", "never retrieved"):
        assert unwanted not in output, output

    # What the next start finds, as stored (nothing restored can turn lost meanwhile): the interrupted
    # jobs ended as cancelled, none left running.
    settings = {"database_url": database_url, "heartbeat_window_s": 600, "restart_grace_s": 600}
    with SidecarProcess(tmp_path, **settings) as sidecar:
        stored = {job.id: job.status for job in sidecar.client.jobs(limit=100).items}
    assert {stored.get(job_id) for job_id in interrupted} == {"cancelled"}, output
    assert set(stored.values()) <= ENDED, stored


@pytest.mark.parametrize(
    ("environ", "platform", "shown"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({}, "linux", False),  # webbrowser would fall back to a text browser in the demo's terminal
        ({"DISPLAY": ":0", "CI": "true"}, "linux", False),
        ({}, "darwin", True),
        ({}, "win32", True),
        ({"CI": "1"}, "darwin", False),
        ({}, "freebsd14", False),
    ],
)
def test_the_demo_opens_a_browser_only_where_someone_can_see_it(environ, platform, shown):
    assert can_open_browser(environ, platform) is shown
