"""Jobs, operators and owners with authentication on: identity comes from the token, never a header."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest

from jobpulse.instrumentation.transport import log_export_headers
from tests.auth.conftest import AuthSidecar, bearer, start_auth_sidecar
from tests.support import loopback
from tests.support.job_scripts import run_script, start_script
from tests.support.polling import wait_for

STEADY_JOB = """
import time
from jobpulse.instrumentation import track_job
with track_job("steady", job_id={job_id!r}, owner={owner!r}) as job:
    while True:
        job.advance()
        time.sleep(0.005)
"""


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthSidecar]:
    sidecar = start_auth_sidecar(tmp_path_factory.mktemp("jobs-auth"))
    sidecar.tokens["ana"] = sidecar.token("ana", "viewer")
    sidecar.tokens["bo"] = sidecar.token("bo", "viewer")
    yield sidecar
    sidecar.process.stop_soon()


def job_status(sidecar: AuthSidecar, job_id: str) -> dict:
    response = loopback.get(f"{sidecar.url}/api/jobs/{job_id}", headers=bearer(sidecar.tokens["viewer"]), timeout=10)
    return response.json() if response.status_code == 200 else {}


def start_steady(sidecar: AuthSidecar, owner: str = "ana") -> tuple[str, subprocess.Popen[str]]:
    """A real instrumented job sending with the ingest token through the standard OTel variable."""
    job_id = uuid.uuid4().hex
    process = start_script(
        STEADY_JOB.format(job_id=job_id, owner=owner),
        sidecar.url,
        OTEL_EXPORTER_OTLP_HEADERS=f"Authorization=Bearer {sidecar.tokens['ingest']}",
    )
    wait_for(lambda: job_status(sidecar, job_id).get("processed", 0) > 0, timeout=20)
    return job_id, process


def control(sidecar: AuthSidecar, job_id: str, action: str, token: str, **headers: str) -> httpx.Response:
    return loopback.post(f"{sidecar.url}/api/jobs/{job_id}/{action}", headers={**bearer(token), **headers}, timeout=10)


def test_a_job_with_an_ingest_token_reports_and_obeys_a_pause(sidecar):
    job_id, process = start_steady(sidecar)
    try:
        # The header a caller sets names nobody: the operator token does.
        requested = control(sidecar, job_id, "pause", sidecar.tokens["operator"], **{"X-JobPulse-User": "mallory"})
        assert requested.status_code == 202 and requested.json()["requested_by"] == "operator"
        wait_for(lambda: job_status(sidecar, job_id)["status"] == "paused", timeout=15)
        assert control(sidecar, job_id, "resume", sidecar.tokens["admin"]).status_code == 202
        wait_for(lambda: job_status(sidecar, job_id)["status"] == "running", timeout=15)
        assert control(sidecar, job_id, "cancel", sidecar.tokens["operator"]).status_code == 202
        wait_for(lambda: job_status(sidecar, job_id)["status"] == "cancelled", timeout=15)
        assert process.wait(15) != 0
        # The job's own long poll may read its commands with the ingest token, as viewers may.
        for role in ("ingest", "viewer"):
            listed = loopback.get(f"{sidecar.url}/api/jobs/{job_id}/commands", headers=bearer(sidecar.tokens[role]))
            assert [c["requested_by"] for c in listed.json()["commands"]] == ["operator", "admin", "operator"]
    finally:
        process.kill()


def test_owners_control_their_jobs_and_others_need_the_operator_role(sidecar):
    job_id, process = start_steady(sidecar, owner="ana")
    try:
        refused = control(sidecar, job_id, "pause", sidecar.tokens["bo"])
        assert refused.status_code == 403 and "belongs to ana" in refused.json()["detail"]
        assert "operator role" in refused.json()["detail"]
        assert control(sidecar, job_id, "pause", sidecar.tokens["ingest"]).status_code == 403
        owned = control(sidecar, job_id, "pause", sidecar.tokens["ana"])
        assert owned.status_code == 202 and owned.json()["requested_by"] == "ana"
        wait_for(lambda: job_status(sidecar, job_id)["status"] == "paused", timeout=15)
        assert control(sidecar, job_id, "cancel", sidecar.tokens["ana"]).status_code == 202
        wait_for(lambda: job_status(sidecar, job_id)["status"] == "cancelled", timeout=15)
    finally:
        process.kill()


def test_a_job_without_a_token_is_refused_and_says_how_to_fix_it(sidecar):
    job_id = uuid.uuid4().hex
    result = run_script(
        f"""
        import time
        from jobpulse.instrumentation import track_job
        with track_job("tokenless", job_id={job_id!r}) as job:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                job.advance()
                time.sleep(0.01)
                if job.processed > 300:
                    break
        """,
        sidecar.url,
    )
    assert result.returncode == 0, "a job runs to its end without a sidecar that takes its telemetry"
    assert "refused the control poll (HTTP 401" in result.stderr
    assert "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer <token>" in result.stderr
    assert job_status(sidecar, job_id) == {}, "nothing the job sent was taken"


def test_the_cli_controls_jobs_with_a_token(sidecar):
    job_id, process = start_steady(sidecar)

    def cli(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("JOBPULSE_")}
        if token:
            env["JOBPULSE_TOKEN"] = token
        return subprocess.run(
            [sys.executable, "-m", "jobpulse.sidecar", "jobs", *args, "--url", sidecar.url],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )

    try:
        anonymous = cli("pause", job_id)
        assert anonymous.returncode == 1 and "(401)" in anonymous.stderr and "--token" in anonymous.stderr
        assert cli("pause", job_id, "--token", sidecar.tokens["operator"]).returncode == 0
        wait_for(lambda: job_status(sidecar, job_id)["status"] == "paused", timeout=15)
        assert cli("cancel", job_id, token=sidecar.tokens["operator"]).returncode == 0, "JOBPULSE_TOKEN"
        wait_for(lambda: job_status(sidecar, job_id)["status"] == "cancelled", timeout=15)
    finally:
        process.kill()


def test_silences_are_attributed_to_the_token(sidecar):
    body = {"rule": "job_failed", "duration_s": 60, "created_by": "somebody-else"}
    assert (
        loopback.post(
            sidecar.url + "/api/alerts/silences", json=body, headers=bearer(sidecar.tokens["viewer"])
        ).status_code
        == 403
    )
    created = loopback.post(sidecar.url + "/api/alerts/silences", json=body, headers=bearer(sidecar.tokens["operator"]))
    assert created.status_code == 201 and created.json()["created_by"] == "operator"


def test_the_control_poll_sends_the_exporters_headers(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20general,x-team=etl")
    assert log_export_headers() == {"authorization": "Bearer general", "x-team": "etl"}
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "Authorization=Bearer for-logs")
    assert log_export_headers() == {"authorization": "Bearer for-logs"}, "the per-signal variable wins, whole"
    assert log_export_headers({"Authorization": "Bearer configured"}) == {"authorization": "Bearer configured"}
