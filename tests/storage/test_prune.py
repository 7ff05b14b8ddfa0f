"""``jobpulse prune`` (the real command) on a real history database."""

from __future__ import annotations

import os
import subprocess
import sys

from jobpulse.sidecar.history.service import History
from jobpulse.sidecar.storage.engine import create_engine
from jobpulse.sidecar.storage.migrate import migrate
from jobpulse.sidecar.store import JobStore
from tests.support.job_events import run


async def test_prune_command_previews_then_prunes(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    history = History(create_engine(url), JobStore(), flush_interval_s=3600, max_pending_lines=1000)
    await migrate(history.engine)
    history.store.apply_all([event for n in range(3) for event in run(name=f"ancient-{n}", log_lines=4)])
    history.store.apply_all(run(name="noisy", log_lines=40, start_ns=2_000_000_000 * 10**9))
    await history.writer.flush()
    await history.engine.dispose()

    def prune(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "jobpulse.sidecar", "prune", "--database-url", url, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                "PATH": "/usr/bin:/bin",
                # The code under test, wherever this checkout is (the package may be installed from another).
                "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
                "JOBPULSE_RETENTION_LOG_LINES_PER_JOB": "25",
                "COLUMNS": "120",
            },
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def rows(output: str) -> dict[str, list[str]]:
        cells = ([cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if "│" in line)
        return {row[0]: row[1:] for row in cells}

    preview = prune("--dry-run")
    assert "would remove" in preview
    assert rows(preview)["jobs ended over 30 days ago"] == ["3", "12"]
    assert rows(preview)["over 25 lines per job"] == ["1", "15"]
    assert rows(preview)["alerts resolved over 30 days ago"] == ["0 alerts", "0 deliveries"]
    assert rows(preview)["rows set aside over 30 days ago"] == ["0 dead letters", ""]
    assert rows(preview)["commands resolved over 30 days ago"] == ["0 commands", ""]
    assert "removed" in prune() and "would remove" not in prune()
