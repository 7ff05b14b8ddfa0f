"""The benchmark suite at its smoke sizes: every script still runs and writes its summary rows.

Speed is not asserted (a target is the benchmarks' business, on a quiet machine); this keeps the scripts
from rotting as the code they measure changes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from bench import scripts
from bench._support import SummaryRow
from tests.conftest import require_binary
from tests.support.postgres import find_bin_dir

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600  # generous: the quick suite takes well under a minute on a quiet machine

pytestmark = pytest.mark.slow


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_quick_suite_runs_every_benchmark(tmp_path: Path) -> None:
    require_binary("wrk")
    require_binary("redis-server")
    if find_bin_dir() is None:
        require_binary("initdb")
    rows_path = tmp_path / "rows.json"
    # A session of its own, so that a run past the timeout is stopped with its servers and workers.
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "--quick", "--json", str(rows_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"python -m bench --quick still ran after {TIMEOUT_S} s:\n{output.decode(errors='replace')}")
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"a benchmark crashed:\n{text}"
    rows = msgspec.json.decode(rows_path.read_bytes(), type=list[SummaryRow])
    assert {row.bench for row in rows} == set(scripts()), text
    assert "Summary" in text
