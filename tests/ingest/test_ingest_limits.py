"""What the receiver refuses at the edge: numbers storage cannot hold, values nested too deep."""

from __future__ import annotations

import json
import uuid

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from jobpulse.sidecar.ingest.otlp_codec import MAX_VALUE_DEPTH
from tests.support.otlp_build import (
    JobEmitter,
    json_logs_request,
    json_record,
    logs_request,
    record,
)
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

INT64_MAX = 2**63 - 1
PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}

# (attribute, value): each gets the record carrying it rejected. Both encodings carry these.
OUT_OF_RANGE = [
    ("jobpulse.job.processed", 1e19),
    ("jobpulse.seq", 2.0**64),
    ("jobpulse.job.step.index", 1e30),
    ("process.memory.usage", 1e30),
    ("process.memory.virtual", -1),
    ("jobpulse.job.failed", -1),
    ("jobpulse.job.total", float("nan")),
    ("jobpulse.job.step.count", float("inf")),
    ("jobpulse.job.heartbeat_interval_s", float("inf")),
    ("jobpulse.job.step.duration_s", 1e300),
    ("jobpulse.job.expected_duration_s", -0.5),
    ("process.cpu.utilization", 1e12),
    ("process.thread.count", 2.5),
    ("jobpulse.control.command", 0),
    ("jobpulse.job.priority", 2**31),
    ("jobpulse.job.priority", -(2**31) - 1),
    ("jobpulse.job.priority", 0.5),
]
# Only OTLP/JSON can carry an int beyond 64 bits.
JSON_ONLY = [
    ("jobpulse.job.processed", 2**63),
    ("jobpulse.seq", 2**64),
    ("jobpulse.job.total", 10**30),
    ("process.open_file_descriptor.count", -(2**63) - 1),
]


@pytest.fixture(scope="module")
def limits_sidecar(tmp_path_factory: pytest.TempPathFactory):
    process = SidecarProcess(tmp_path_factory.mktemp("limits"), history_flush_interval_s=0.05).start()
    yield process
    process.stop_soon()


def start_attributes(job_id: str, **extra) -> dict:
    return {"jobpulse.job.id": job_id, "jobpulse.seq": 1, "jobpulse.job.name": "limits", **extra}


def post(sidecar: SidecarProcess, encoding: str, records: list[tuple[str, dict]], time_ns: int | None = None):
    """Post ``(event name, attributes)`` records in one request; return (rejected, message)."""
    if encoding == "json":
        fields = {"timeUnixNano": str(time_ns)} if time_ns is not None else {}
        body = json_logs_request([json_record(name, attributes, **fields) for name, attributes in records])
        response = sidecar.post("/v1/logs", content=body, headers=JSON)
        assert response.status_code == 200, response.text
        partial = response.json().get("partialSuccess", {})
        return int(partial.get("rejectedLogRecords", 0)), partial.get("errorMessage", "")
    body = logs_request([record(name, attributes, time_ns=time_ns) for name, attributes in records])
    response = sidecar.post("/v1/logs", content=body, headers=PROTOBUF)
    assert response.status_code == 200, response.text
    partial = ExportLogsServiceResponse.FromString(response.content).partial_success
    return partial.rejected_log_records, partial.error_message


def shown(value) -> str:
    return repr(value)


@pytest.mark.parametrize(
    ("encoding", "attribute", "value"),
    [(encoding, *case) for encoding in ("protobuf", "json") for case in OUT_OF_RANGE]
    + [("json", *case) for case in JSON_ONLY],
    ids=lambda value: str(value),
)
def test_a_number_storage_cannot_hold_rejects_its_record_and_no_other(limits_sidecar, encoding, attribute, value):
    bad, good = uuid.uuid4().hex, uuid.uuid4().hex
    rejected, message = post(
        limits_sidecar,
        encoding,
        [
            ("jobpulse.job.start", start_attributes(bad, **{attribute: value})),
            ("jobpulse.job.start", start_attributes(good, **{"jobpulse.job.total": 10})),
            ("jobpulse.job.progress", {"jobpulse.job.id": good, "jobpulse.seq": 2, "jobpulse.job.processed": 4}),
        ],
    )
    assert rejected == 1
    assert attribute in message and shown(value) in message, message
    assert limits_sidecar.get(f"/api/jobs/{bad}").status_code == 404
    assert limits_sidecar.get(f"/api/jobs/{good}").json()["processed"] == 4


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_the_largest_numbers_storage_holds_are_accepted(limits_sidecar, encoding):
    job = uuid.uuid4().hex
    attributes = start_attributes(
        job,
        **{
            "jobpulse.seq": INT64_MAX,
            "jobpulse.job.processed": INT64_MAX,
            "jobpulse.job.failed": 0,
            "jobpulse.job.total": INT64_MAX,
            "process.memory.usage": INT64_MAX,
            "jobpulse.job.step.index": 2**31 - 1,
            "jobpulse.job.priority": -(2**31),
        },
    )
    assert post(limits_sidecar, encoding, [("jobpulse.job.start", attributes)]) == (0, "")
    detail = limits_sidecar.get(f"/api/jobs/{job}").json()
    assert (detail["processed"], detail["total"]) == (INT64_MAX, INT64_MAX)


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_time_beyond_int64_rejects_its_record(limits_sidecar, encoding):
    job = uuid.uuid4().hex
    rejected, message = post(
        limits_sidecar, encoding, [("jobpulse.job.start", start_attributes(job))], time_ns=2**64 - 1
    )
    assert rejected == 1 and "time_unix_nano" in message and str(2**64 - 1) in message
    assert limits_sidecar.get(f"/api/jobs/{job}").status_code == 404


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_job_id_with_a_nul_rejects_its_record_and_no_other(limits_sidecar, encoding):
    bad, good = f"nul\x00{uuid.uuid4().hex}", uuid.uuid4().hex
    rejected, message = post(
        limits_sidecar,
        encoding,
        [("jobpulse.job.start", start_attributes(bad)), ("jobpulse.job.start", start_attributes(good))],
    )
    assert rejected == 1
    assert f"jobpulse.job.id must not contain a NUL character, got 'nul\\x00{bad[4:]}'" in message, message
    assert limits_sidecar.get(f"/api/jobs/{good}").status_code == 200
    assert bad not in [item["id"] for item in limits_sidecar.get("/api/jobs", name="limits", limit=500).json()["items"]]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"jobpulse.job.name": "n"}, "jobpulse.job.queued requires jobpulse.job.queue"),
        ({"jobpulse.job.queue": "imports"}, "jobpulse.job.queued requires jobpulse.job.name"),
        ({"jobpulse.job.name": "n", "jobpulse.job.queue": ""}, "jobpulse.job.queue must be a string of 1..200"),
        ({"jobpulse.job.name": "n", "jobpulse.job.queue": "q" * 201}, "got 201 characters"),
        ({"jobpulse.job.name": "n", "jobpulse.job.queue": 7}, "jobpulse.job.queue must be a string, got int 7"),
    ],
    ids=["no-queue", "no-name", "empty-queue", "long-queue", "queue-not-a-string"],
)
def test_a_queued_record_needs_a_name_and_a_queue(limits_sidecar, attributes, expected):
    job = uuid.uuid4().hex
    announced = {"jobpulse.job.id": job, "jobpulse.seq": 1, **attributes}
    rejected, message = post(limits_sidecar, "protobuf", [("jobpulse.job.queued", announced)])
    assert rejected == 1 and expected in message, message
    assert limits_sidecar.get(f"/api/jobs/{job}").status_code == 404


def test_a_process_pid_beyond_32_bits_is_ignored_like_a_pid_of_the_wrong_type(limits_sidecar):
    job = JobEmitter(uuid.uuid4().hex)
    body = logs_request([job.start(name="pid")], resource={"service.name": "tests", "process.pid": 2**40})
    assert limits_sidecar.post("/v1/logs", content=body, headers=PROTOBUF).status_code == 200
    detail = limits_sidecar.get(f"/api/jobs/{job.job_id}").json()
    assert (detail["service"], detail["pid"]) == ("tests", None)


def test_each_job_has_the_origin_of_the_process_that_sent_it(limits_sidecar):
    processes = [{"service.name": f"svc-{n}", "host.name": f"host-{n}", "process.pid": 100 + n} for n in range(3)]
    jobs = [JobEmitter(uuid.uuid4().hex) for _ in range(6)]
    for round_ in range(2):  # each process's resource seen again, in another order
        for n in range(3) if round_ == 0 else reversed(range(3)):
            job = jobs[n + 3 * round_]
            body = logs_request([job.start(name="origin")], resource=processes[n])
            assert limits_sidecar.post("/v1/logs", content=body, headers=PROTOBUF).status_code == 200
    for index, job in enumerate(jobs):
        detail = limits_sidecar.get(f"/api/jobs/{job.job_id}").json()
        assert (detail["service"], detail["host"], detail["pid"]) == (
            f"svc-{index % 3}",
            f"host-{index % 3}",
            100 + index % 3,
        )


@pytest.mark.parametrize("followed_by_a_record", [False, True])
def test_a_malformed_resource_is_a_400_that_applies_nothing(limits_sidecar, followed_by_a_record):
    job = JobEmitter(uuid.uuid4().hex)
    scope = (
        wire(2, wire(2, job.start(name="after a bad resource").SerializeToString())) if followed_by_a_record else b""
    )
    body = wire(1, wire(1, b"\xff\xff") + scope)  # resource_logs {resource: not a Resource, scope_logs}
    response = limits_sidecar.post("/v1/logs", content=body, headers=PROTOBUF)
    assert response.status_code == 400, response.text
    assert "malformed protobuf body" in response.json()["detail"]
    assert limits_sidecar.get(f"/api/jobs/{job.job_id}").status_code == 404


def test_after_a_poisonous_record_other_jobs_still_reach_history(limits_sidecar):
    poison, name = uuid.uuid4().hex, f"after-poison-{uuid.uuid4().hex[:8]}"
    post(
        limits_sidecar, "json", [("jobpulse.job.start", start_attributes(poison, **{"jobpulse.job.processed": 2**63}))]
    )
    job = JobEmitter(uuid.uuid4().hex)
    limits_sidecar.post(
        "/v1/logs", content=logs_request([job.start(name=name), job.end(processed=3)]), headers=PROTOBUF
    )

    def in_history():
        response = limits_sidecar.get("/api/jobs", name=name)
        return response.status_code == 200 and [item["id"] for item in response.json()["items"]] == [job.job_id]

    wait_for(in_history, timeout=10.0)
    assert limits_sidecar.get("/readyz").status_code == 200


# ---- nesting --------------------------------------------------------------------------------------


def nested_json(depth: int, kind: str) -> str:
    """An OTLP/JSON AnyValue with ``depth`` levels of arrays or maps around a string."""
    if kind == "arrayValue":
        return '{"arrayValue":{"values":[' * depth + '{"stringValue":"x"}' + "]}}" * depth
    return '{"kvlistValue":{"values":[{"key":"k","value":' * depth + '{"stringValue":"x"}' + "}]}}" * depth


def json_logs_with(value: str, where: str, job_id: str) -> bytes:
    """Logs: a valid start of ``job_id``, then a record with ``value`` as an attribute or the body."""
    good = json.dumps(json_record("jobpulse.job.start", start_attributes(job_id)))
    holder = f'"attributes":[{{"key":"deep","value":{value}}}]' if where == "attribute" else f'"body":{value}'
    return f'{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{good},{{{holder}}}]}}]}}]}}'.encode()


def json_spans_with(value: str) -> bytes:
    attribute = f'{{"key":"deep","value":{value}}}'
    return f'{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":[{attribute}]}}]}}]}}]}}'.encode()


def nested_any_value(depth: int, kind: str) -> AnyValue:
    value = AnyValue(string_value="x")
    for _ in range(depth):
        outer = AnyValue()
        if kind == "arrayValue":
            outer.array_value.values.append(value)
        else:
            outer.kvlist_value.values.append(KeyValue(key="k", value=value))
        value = outer
    return value


def assert_depth_rejected(sidecar: SidecarProcess, path: str, body: bytes, headers: dict) -> None:
    response = sidecar.post(path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert f"nested deeper than {MAX_VALUE_DEPTH} levels" in response.json()["detail"]


@pytest.mark.parametrize("kind", ["arrayValue", "kvlistValue"])
@pytest.mark.parametrize("depth", [MAX_VALUE_DEPTH + 1, 330, 5_000])
@pytest.mark.parametrize("where", ["attribute", "body", "span"])
def test_json_nested_too_deep_is_a_400_naming_the_limit(limits_sidecar, kind, depth, where):
    job = uuid.uuid4().hex
    if where == "span":
        assert_depth_rejected(limits_sidecar, "/v1/traces", json_spans_with(nested_json(depth, kind)), JSON)
    else:
        assert_depth_rejected(limits_sidecar, "/v1/logs", json_logs_with(nested_json(depth, kind), where, job), JSON)
        assert limits_sidecar.get(f"/api/jobs/{job}").status_code == 404, "a 400 applies nothing of its request"
    assert "Traceback" not in limits_sidecar.log()


@pytest.mark.parametrize(
    "body",
    [
        b'{"unknownField":' + b"[" * 5_000,
        b"[" * 5_000 + b"]" * 5_000,
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":' + b"[" * 5_000,
    ],
    ids=["unknown-field", "top-level", "attributes"],
)
def test_json_nesting_anywhere_is_a_400(limits_sidecar, body):
    assert limits_sidecar.post("/v1/logs", content=body, headers=JSON).status_code == 400
    assert limits_sidecar.post("/v1/traces", content=body, headers=JSON).status_code == 400
    assert "Traceback" not in limits_sidecar.log()


def wire(field: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field: the way to build nesting the protobuf library refuses."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def varint(number: int) -> bytes:
    out = b""
    while number > 0x7F:
        out += bytes([number & 0x7F | 0x80])
        number >>= 7
    return out + bytes([number])


def nested_protobuf_logs(depth: int, kind: str, before: bytes) -> bytes:
    """An ExportLogsServiceRequest: the log record ``before``, then one whose body nests ``depth`` deep."""
    value = wire(1, b"x")  # AnyValue.string_value
    for _ in range(depth):
        # AnyValue.array_value {values}, or AnyValue.kvlist_value {values: KeyValue {key, value}}
        value = wire(5, wire(1, value)) if kind == "arrayValue" else wire(6, wire(1, wire(1, b"k") + wire(2, value)))
    deep = wire(5, value)  # LogRecord.body
    return wire(1, wire(2, wire(2, before) + wire(2, deep)))  # resource_logs.scope_logs.log_records


@pytest.mark.parametrize("kind", ["arrayValue", "kvlistValue"])
@pytest.mark.parametrize("depth", [MAX_VALUE_DEPTH + 1, 40, 1000])
def test_protobuf_nested_too_deep_is_a_400_naming_the_limit(limits_sidecar, kind, depth):
    job = JobEmitter(uuid.uuid4().hex)
    body = nested_protobuf_logs(depth, kind, job.start(name="before the deep one").SerializeToString())
    assert_depth_rejected(limits_sidecar, "/v1/logs", body, PROTOBUF)
    assert limits_sidecar.get(f"/api/jobs/{job.job_id}").status_code == 404, "a 400 applies nothing of its request"


@pytest.mark.parametrize("kind", ["arrayValue", "kvlistValue"])
def test_protobuf_spans_nested_too_deep_are_a_400_naming_the_limit(limits_sidecar, kind):
    spans = ExportTraceServiceRequest()
    spans.resource_spans.add().scope_spans.add().spans.add().attributes.append(
        KeyValue(key="deep", value=nested_any_value(MAX_VALUE_DEPTH + 1, kind))
    )
    assert_depth_rejected(limits_sidecar, "/v1/traces", spans.SerializeToString(), PROTOBUF)


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_values_nested_up_to_the_limit_are_kept(limits_sidecar, encoding):
    job = uuid.uuid4().hex
    attributes = {"jobpulse.job.id": job, "jobpulse.seq": 2}
    if encoding == "json":
        line = json.dumps(json_record("", attributes)).replace(
            '"attributes": [', f'"attributes": [{{"key":"deep","value":{nested_json(MAX_VALUE_DEPTH, "kvlistValue")}}},'
        )
        body = f'{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{line}]}}]}}]}}'.encode()
        assert limits_sidecar.post("/v1/logs", content=body, headers=JSON).status_code == 200
    else:
        line = record("", attributes)
        line.attributes.append(KeyValue(key="deep", value=nested_any_value(MAX_VALUE_DEPTH, "kvlistValue")))
        assert limits_sidecar.post("/v1/logs", content=logs_request([line]), headers=PROTOBUF).status_code == 200
    kept = limits_sidecar.get(f"/api/jobs/{job}").json()["recent_logs"][0]["attributes"]["deep"]
    depth = 0
    while isinstance(kept, dict):
        kept, depth = kept["k"], depth + 1
    assert (depth, kept) == (MAX_VALUE_DEPTH, "x")
