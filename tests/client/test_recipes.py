"""The recipes of docs/client.md, run as written against a real sidecar and real jobs."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path

from jobpulse.client import Client
from tests.client.scripts import TALKING_JOB, Job
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def recipe(title: str, workdir: Path) -> Path:
    """The Python block under the heading ``### title`` of docs/client.md, as a script file."""
    text = GUIDE.read_text()
    start = text.index(f"\n### {title}\n")
    block = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL).search(text, start)
    assert block is not None, f"no Python block under '### {title}'"
    script = workdir / (re.sub(r"\W+", "_", title.lower()) + ".py")
    script.write_text(block.group(1))
    return script


def start(script: Path, sidecar: SidecarProcess, *args: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "JOBPULSE_"))}
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        env={**env, "JOBPULSE_URL": sidecar.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_wait_for_a_job_recipe(shared_sidecar, tmp_path) -> None:
    script = recipe("Wait for a job", tmp_path)
    good, bad = (
        Job(TALKING_JOB, shared_sidecar.url, name="recipe-good"),
        Job(TALKING_JOB, shared_sidecar.url, name="recipe-bad"),
    )
    try:
        good.say("info row 1")
        wait_for(lambda: shared_sidecar.get(f"/api/jobs/{good.id}").status_code == 200)
        waiting = start(script, shared_sidecar, good.id)
        good.say("info row 2", "end")
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err
        assert re.fullmatch(r"recipe-good: completed, 2 records \(0 failed\) in \d+\.\d s\n", out)

        bad.say("fail disk full")
        waiting = start(script, shared_sidecar, bad.id)
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 1
        assert out.startswith("recipe-bad: failed, 0 records") and err == "RuntimeError: disk full\n"
    finally:
        good.kill()
        bad.kill()


def test_the_warnings_to_chat_recipe(shared_sidecar, tmp_path) -> None:
    notifier = start(recipe("Stream warnings of one job type to a chat", tmp_path), shared_sidecar)
    try:
        with Client(shared_sidecar.url) as client:
            wait_for(
                lambda: any(
                    "csv_import" in ((feed.subscription.get("job_types") or {}).get("include") or ())
                    for feed in client.connections().clients
                ),
                timeout=30,
            )
        imports, other = JobEmitter("recipe-csv-import"), JobEmitter("recipe-other")
        post_logs(
            shared_sidecar.url,
            [
                imports.start(name="orders-import", job_type="csv_import"),
                imports.log("row 17 rejected", level="warning"),
                imports.log("row 18 loaded", level="info"),
                other.start(name="invoices", job_type="api_upload"),
                other.log("slow answer", level="warning"),
                imports.log("table locked", level="error"),
            ],
        )
        assert read_lines(notifier, 2) == [
            "orders-import (recipe-csv-import) WARNING: row 17 rejected",
            "orders-import (recipe-csv-import) ERROR: table locked",
        ]
    finally:
        notifier.kill()
        notifier.communicate()


def test_the_weekly_report_recipe(sidecar, tmp_path) -> None:
    emitters = [JobEmitter(f"recipe-report-{n}") for n in range(4)]
    records = []
    for number, emitter in enumerate(emitters):
        records.append(emitter.start(name=f"import-{number}", job_type="csv_import"))
        if number == 3:
            records.append(emitter.end("failed", **{"exception.type": "ValueError", "exception.message": "bad date"}))
        else:
            records.append(emitter.end(processed=10))
    post_logs(sidecar.url, records)
    with Client(sidecar.url) as client:
        # Analytics read stored history, which is written behind the fold.
        wait_for(lambda: [group.runs for group in client.analytics().groups] == [4])
    reporting = start(recipe("A weekly report from history", tmp_path), sidecar)
    out, err = reporting.communicate(timeout=60)
    assert reporting.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["job", "type", "runs", "success", "p95", "s"]
    assert lines[1].split()[:3] == ["csv_import", "4", "75%"]
    assert lines[2] == "1 x ValueError: bad date (import-3)"
    assert re.fullmatch(r"slowest: import-\d \(recipe-report-\d\), \d+\.\d s", lines[3])
    assert len(lines) == 4


def read_lines(process: subprocess.Popen[str], count: int, timeout: float = 15.0) -> list[str]:
    """The first ``count`` lines of the process's stdout, within ``timeout`` seconds."""
    assert process.stdout is not None
    received = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while received.count(b"\n") < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and selector.select(remaining), f"only {received!r} within {timeout} s"
            chunk = os.read(process.stdout.fileno(), 65536)
            assert chunk, f"the recipe ended after {received!r}"
            received += chunk
    return received.decode().splitlines()[:count]
