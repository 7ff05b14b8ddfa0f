"""The job side stays light: no server-side imports, and the underscore OTel modules in one place."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jobpulse.instrumentation
from tests.support.job_scripts import run_script
from tests.support.otlp_capture import OtlpCapture

FORBIDDEN = ("litestar", "sqlalchemy", "apprise", "msgspec", "jobpulse.sidecar")


def test_a_tracked_job_imports_nothing_of_the_sidecar(capture: OtlpCapture) -> None:
    done = run_script(
        f"""
        import json, logging, sys
        from jobpulse import instrumentation
        with instrumentation.track_job("light", steps=["a"]) as job:
            with job.step("a"):
                for _ in job.iter(range(10)):
                    logging.info("working")
        assert instrumentation.flush(5)
        print(json.dumps(sorted(name for name in sys.modules if name.startswith({FORBIDDEN!r}))))
        """,
        capture.url,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_only_one_module_touches_the_underscore_logs_api() -> None:
    package = Path(jobpulse.instrumentation.__file__).parent
    underscore = re.compile(r"^\s*(from|import)\s+opentelemetry(\.sdk)?\._logs", re.MULTILINE)
    users = sorted(path.name for path in package.glob("*.py") if underscore.search(path.read_text()))
    assert users == ["_otel.py"]


def test_the_sidecar_reads_the_conventions_without_loading_the_job_runtime() -> None:
    done = run_script(
        """
        import json, sys
        import jobpulse.conventions
        import jobpulse.sidecar.ingest.receiver
        loaded = [name for name in sys.modules if name.startswith(("jobpulse.instrumentation", "opentelemetry.sdk"))]
        print(json.dumps(sorted(loaded)))
        """,
        None,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
