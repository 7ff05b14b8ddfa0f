"""The OTLP/HTTP receiver against bad and odd input: precise 4xx, partial success, never a 500."""

from __future__ import annotations

import gzip
import json
import uuid

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from tests.support.otlp_build import JobEmitter, logs_request, post_logs, record
from tests.support.sidecar import SidecarProcess

PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def small_sidecar(tmp_path_factory: pytest.TempPathFactory):
    process = SidecarProcess(tmp_path_factory.mktemp("receiver"), max_request_bytes=64 * 1024).start()
    yield process
    process.stop_soon()


def still_serving(sidecar: SidecarProcess) -> None:
    job = JobEmitter(uuid.uuid4().hex)
    post_logs(sidecar.url, [job.start(name="alive")])
    assert sidecar.get(f"/api/jobs/{job.job_id}").status_code == 200


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert body["status_code"] == response.status_code
    return body["detail"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (b"\xff\xfe garbage \x00", PROTOBUF, 400, "malformed protobuf"),
        (
            logs_request([record("jobpulse.job.start", {"jobpulse.job.id": "x", "jobpulse.seq": 1})])[:-7],
            PROTOBUF,
            400,
            "malformed protobuf",
        ),
        (b"{not json", {"content-type": "application/json"}, 400, "malformed JSON"),
        (
            b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}',
            {"content-type": "application/json"},
            400,
            "timeUnixNano",
        ),
        (b'{"resourceLogs": 5}', {"content-type": "application/json"}, 400, "resourceLogs"),
        (b"x", {"content-type": "text/plain"}, 415, "text/plain"),
        (b"x", {}, 415, "content type"),
        (b"x", {**PROTOBUF, "content-encoding": "br"}, 415, "br"),
        (b"not gzip at all", {**PROTOBUF, "content-encoding": "gzip"}, 400, "gzip"),
        (gzip.compress(b"\x00" * 10)[:-4], {**PROTOBUF, "content-encoding": "gzip"}, 400, "gzip"),
        (b"\x00" * (64 * 1024 + 1), PROTOBUF, 413, "limit"),
        (gzip.compress(b"\x00" * (1024 * 1024)), {**PROTOBUF, "content-encoding": "gzip"}, 413, "decompressed"),
    ],
    ids=[
        "garbage",
        "truncated",
        "bad-json",
        "bad-json-int",
        "json-wrong-shape",
        "text-plain",
        "no-type",
        "unknown-encoding",
        "bad-gzip",
        "truncated-gzip",
        "too-large",
        "gzip-bomb",
    ],
)
def test_bad_bodies_get_a_precise_4xx_and_the_sidecar_keeps_serving(small_sidecar, body, headers, status, words):
    response = small_sidecar.post("/v1/logs", content=body, headers=headers)
    assert response.status_code == status
    assert words in error_of(response)
    still_serving(small_sidecar)


def test_records_breaking_the_conventions_are_rejected_by_partial_success(small_sidecar):
    job = uuid.uuid4().hex
    records = [
        record("jobpulse.job.start", {"jobpulse.job.id": job, "jobpulse.seq": 1, "jobpulse.job.name": "ok"}),
        record("jobpulse.job.progress", {"jobpulse.job.id": job, "jobpulse.seq": "two", "jobpulse.job.processed": 1}),
        record("jobpulse.job.progress", {"jobpulse.job.id": job, "jobpulse.seq": 3, "jobpulse.job.processed": -4}),
        record("jobpulse.job.end", {"jobpulse.job.id": job, "jobpulse.seq": 4, "jobpulse.job.status": "exploded"}),
        record("jobpulse.job.progress", {"jobpulse.job.id": job, "jobpulse.seq": 5, "jobpulse.job.processed": 7}),
        record("", {"unrelated": "app log"}, body="not a job's"),
    ]
    response = small_sidecar.post("/v1/logs", content=logs_request(records), headers=PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-protobuf")
    parsed = ExportLogsServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_log_records == 3
    message = parsed.partial_success.error_message
    assert "jobpulse.seq must be an int, got string 'two'" in message
    assert "jobpulse.job.processed must be an int in 0..9223372036854775807, got int -4" in message
    assert "jobpulse.job.status" in message and "exploded" in message
    assert small_sidecar.get(f"/api/jobs/{job}").json()["processed"] == 7
    counters = small_sidecar.get("/api/monitor/ingest").json()
    assert counters["records_ignored"] >= 1 and counters["records_rejected"] >= 3


def test_otlp_json_with_hex_ids_and_string_ints_is_accepted(small_sidecar):
    job = uuid.uuid4().hex
    trace_id = "5b8efff798038103d269b633813fc60c"

    def attr(key, **value):
        return {"key": key, "value": value}

    body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [attr("service.name", stringValue="node-etl"), attr("host.name", stringValue="n1")]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1800000000000000000",
                                "eventName": "jobpulse.job.start",
                                "traceId": trace_id,
                                "spanId": "eee19b7ec3c1b174",
                                "attributes": [
                                    attr("jobpulse.job.id", stringValue=job),
                                    attr("jobpulse.seq", intValue="1"),
                                    attr("jobpulse.job.name", stringValue="json-job"),
                                    attr("jobpulse.job.total", intValue=10),
                                ],
                            },
                            {
                                "timeUnixNano": 1800000000500000000,
                                "severityNumber": 17,
                                "body": {"stringValue": "row 3 bad"},
                                "attributes": [
                                    attr("jobpulse.job.id", stringValue=job),
                                    attr("jobpulse.seq", doubleValue=2.0),
                                ],
                            },
                            {
                                "timeUnixNano": "1800000001000000000",
                                "attributes": [
                                    attr("event.name", stringValue="jobpulse.job.end"),
                                    attr("jobpulse.job.id", stringValue=job),
                                    attr("jobpulse.seq", intValue="3"),
                                    attr("jobpulse.job.status", stringValue="completed"),
                                    attr("jobpulse.job.processed", intValue="10"),
                                ],
                            },
                        ]
                    }
                ],
            }
        ]
    }
    response = small_sidecar.post("/v1/logs", content=json.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json() == {}
    detail = small_sidecar.get(f"/api/jobs/{job}").json()
    assert (detail["status"], detail["processed"], detail["service"], detail["trace_id"]) == (
        "completed",
        10,
        "node-etl",
        trace_id,
    )
    assert detail["execution_time_s"] == pytest.approx(1.0)
    assert detail["recent_logs"][0]["level"] == "error" and detail["recent_logs"][0]["message"] == "row 3 bad"


def test_gzip_protobuf_is_accepted(small_sidecar):
    job = JobEmitter(uuid.uuid4().hex)
    body = gzip.compress(logs_request([job.start(name="zipped", total=3), job.progress(3, total=3)]))
    response = small_sidecar.post("/v1/logs", content=body, headers={**PROTOBUF, "content-encoding": "gzip"})
    assert response.status_code == 200
    assert small_sidecar.get(f"/api/jobs/{job.job_id}/status").json()["progress_percent"] == 100.0


def test_traces_are_accepted_and_counted(small_sidecar):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tests.support.otlp_build import key_values

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "job"
    span.attributes.extend(key_values({"jobpulse.job.id": "traced"}))
    before = small_sidecar.get("/api/monitor/ingest").json()["spans_of_jobs"]
    response = small_sidecar.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200
    assert small_sidecar.get("/api/monitor/ingest").json()["spans_of_jobs"] == before + 1
    garbage = small_sidecar.post("/v1/traces", content=b"\xff\xff\xff", headers=PROTOBUF)
    assert garbage.status_code == 400


def test_unknown_job_is_a_404_naming_it(small_sidecar):
    for path in (
        "/api/jobs/no-such-job",
        "/api/jobs/no-such-job/status",
        "/api/jobs/no-such-job/metrics",
        "/api/jobs/no-such-job/logs",
    ):
        response = small_sidecar.get(path)
        assert response.status_code == 404
        assert "no-such-job" in error_of(response)


def test_bad_query_parameters_name_the_parameter(small_sidecar):
    response = small_sidecar.get("/api/jobs", status="exploded")
    assert response.status_code == 400
    assert "status" in json.dumps(response.json())
    response = small_sidecar.get("/api/jobs", limit=0)
    assert response.status_code == 400 and "limit" in json.dumps(response.json())
