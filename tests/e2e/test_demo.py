"""``jobpulse demo``: the README's first command, run as a newcomer would (but faster)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.ports import free_port


def test_demo_runs_every_job_once_and_exits(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "jobpulse.sidecar", "demo", "--once", "--speed", "25", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/schema/swagger" in output
    assert f"ws://127.0.0.1:{port}/ws" in output
    assert "all demo jobs ran once" in output
    assert "warehouse_load failed (exit 1)" in output, "the demo shows a failing job too"
    for name in ("csv_import", "field_mapping", "api_upload"):
        assert f"{name} completed" in output
