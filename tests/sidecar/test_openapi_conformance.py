"""The sidecar against its own OpenAPI document (``/schema/openapi.json``), with schemathesis.

For every operation, requests generated from the document (valid ones and, for parameters, invalid
ones) go to a real sidecar on loopback that holds real jobs. No answer may be a 5xx, and every
answer must be one the document describes: status code, content type, headers and body schema.

Bounded: a fixed number of examples per operation, derandomized, so a run takes the same requests
every time (about 10 s here) and a failure reproduces.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.sidecar import SidecarProcess

EXAMPLES_PER_OPERATION = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Ids of the jobs the sidecar is given: half of the generated per-job requests use one of them, so
# they reach real job states rather than only the 404 of an unknown id.
JOB_IDS = [f"conformance-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("running", "failed", "completed")]


def seed_jobs(sidecar: SidecarProcess) -> None:
    running, failed, completed = (JobEmitter(job_id) for job_id in JOB_IDS)
    post_logs(
        sidecar.url,
        [
            running.start(name="orders-import", job_type="csv_import", total=100),
            running.progress(40, failed=2, total=100, step="parse"),
            running.log("row 17 rejected", level="warning"),
            failed.start(name="orders-import", job_type="csv_import"),
            failed.log("connection refused", level="error"),
            failed.end("failed", processed=3, **{"exception.type": "ConnectionError", "exception.message": "refused"}),
            completed.start(name="invoices", job_type="api_upload", total=5),
            completed.progress(5, total=5),
            completed.end(processed=5),
        ],
    )
    assert sidecar.post("/api/alerts/silences", json={"rule": "job_failed", "duration_s": 3600}).status_code == 201


@pytest.fixture(scope="module")
def conformance_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    # Long polls answer at once, so a generated ``wait`` cannot stretch the run.
    process = SidecarProcess(tmp_path_factory.mktemp("conformance"), control_poll_max_wait_s=0.05).start()
    seed_jobs(process)
    yield process
    process.stop_soon()


@pytest.fixture(scope="module")
def api_schema(conformance_sidecar: SidecarProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(conformance_sidecar.url + "/schema/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.given(known_job=st.sampled_from([None, *JOB_IDS]))
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_none_is_a_server_error(case: schemathesis.Case, known_job: str | None) -> None:
    if known_job is not None and case.path_parameters and "job_id" in case.path_parameters:
        case.path_parameters["job_id"] = known_job
    case.call_and_validate(checks=CHECKS, timeout=10)
