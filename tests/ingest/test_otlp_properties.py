"""Property tests of the OTLP receiver: whatever arrives, the answer is a 2xx or a 4xx, nothing escapes
unlogged, jobs a body does not name stay as they were, and what is accepted can be stored.

Most examples go straight through the decoders and the ingest path (fast, so many of them); a smaller
set goes through a real sidecar's HTTP endpoint. Examples are derandomized, so CI sees the same ones.
"""

from __future__ import annotations

import gzip
import json
import math
import uuid

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from jobpulse import conventions
from jobpulse.sidecar.history import rows
from jobpulse.sidecar.ingest import otlp_codec as codec
from jobpulse.sidecar.ingest.otlp_codec import BodyError
from jobpulse.sidecar.ingest.receiver import Ingestor
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.model.state import JobState
from jobpulse.sidecar.store import JobChange, JobStore
from tests.support.otlp_build import (
    JobEmitter,
    any_value,
    json_logs_request,
    json_record,
    key_values,
    logs_request,
    record,
)
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)
# Columns that are 32-bit on PostgreSQL.
INT32_COLUMNS = frozenset({"pid", "step_index", "runs"})

DIRECT = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# One sidecar serves every example, so a failure need not replay: report it as found, unshrunk.
OVER_HTTP = settings(DIRECT, max_examples=60, phases=[Phase.explicit, Phase.generate])

# ---- what bodies are made of ----------------------------------------------------------------------

ATTRIBUTE_KEYS = sorted(
    value
    for name, value in vars(conventions).items()
    if name.startswith(("ATTR_", "RESOURCE_")) and isinstance(value, str)
)
EVENT_NAMES = [*sorted(conventions.LIFECYCLE_EVENTS), "", "jobpulse.job.other"]
OTLP_KEYS = [
    "resourceLogs",
    "resourceSpans",
    "resource",
    "scopeLogs",
    "scopeSpans",
    "logRecords",
    "spans",
    "attributes",
    "key",
    "value",
    "values",
    "stringValue",
    "intValue",
    "doubleValue",
    "boolValue",
    "arrayValue",
    "kvlistValue",
    "bytesValue",
    "body",
    "timeUnixNano",
    "observedTimeUnixNano",
    "severityNumber",
    "severityText",
    "traceId",
    "spanId",
    "eventName",
]
# Job ids bodies may name; the bystanders' ids are longer than any of these.
JOB_IDS = st.one_of(st.sampled_from(["a", "b", "job-1"]), st.text(max_size=8))
BYSTANDERS = ("bystander-running-job", "bystander-ended-job")

EXTREME_INTS = st.sampled_from(
    [0, 1, -1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**30]
)
EXTREME_FLOATS = st.sampled_from([1e19, 1e30, 1e300, 9.223372036854776e18, -0.0, 5e-324, 2.5, 3.0e8, 1e12])
PLAUSIBLE_TEXT = st.sampled_from(["completed", "failed", "cancelled", "started", "extract", "job"])
INTS = st.one_of(st.integers(0, 50), EXTREME_INTS, st.integers())
FLOATS = st.one_of(st.floats(), EXTREME_FLOATS)


def python_values(max_leaves: int) -> st.SearchStrategy:
    """Attribute values as the decoders produce them, nested up to about ``max_leaves`` deep."""
    scalars = st.one_of(
        PLAUSIBLE_TEXT,
        st.text(max_size=12),
        st.booleans(),
        INTS.filter(lambda n: INT64[0] <= n <= INT64[1]),
        FLOATS,
        st.binary(max_size=8),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(st.text(max_size=4), children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


PYTHON_VALUES = python_values(8)
SMALL_PYTHON_VALUES = python_values(3)
JSON_DOUBLES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    EXTREME_FLOATS,
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "2.0", "abc", ""]),
)


def json_any_values() -> st.SearchStrategy:
    """OTLP/JSON AnyValues, well- and ill-formed: numbers as strings or not, out of range, nested."""
    scalars = st.one_of(
        st.builds(lambda text: {"stringValue": text}, st.one_of(PLAUSIBLE_TEXT, st.text(max_size=12))),
        st.builds(lambda number: {"intValue": number}, INTS),
        st.builds(lambda number: {"intValue": str(number)}, INTS),
        st.builds(lambda text: {"intValue": text}, st.text(max_size=6)),
        st.builds(lambda number: {"doubleValue": number}, JSON_DOUBLES),
        st.builds(lambda flag: {"boolValue": flag}, st.booleans()),
        st.builds(lambda text: {"bytesValue": text}, st.text(max_size=8)),
        st.just({}),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.builds(lambda items: {"arrayValue": {"values": items}}, st.lists(children, max_size=3)),
            st.builds(
                lambda pairs: {"kvlistValue": {"values": [{"key": key, "value": value} for key, value in pairs]}},
                st.lists(st.tuples(st.text(max_size=4), children), max_size=3),
            ),
        ),
        max_leaves=8,
    )


JSON_ANY_VALUES = json_any_values()
JSON_TIMES = st.one_of(INTS, INTS.map(str), st.text(max_size=6))


def deeply_nested(value: dict, depth: int, kind: str) -> dict:
    for _ in range(depth):
        value = (
            {"arrayValue": {"values": [value]}}
            if kind == "array"
            else {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
        )
    return value


@st.composite
def json_attributes(draw) -> list[dict]:
    """Attributes of a record that is, mostly, a job's: id and seq, then anything."""
    attributes = []
    if draw(st.booleans()) or draw(st.booleans()):
        attributes.append({"key": conventions.ATTR_JOB_ID, "value": {"stringValue": draw(JOB_IDS)}})
        attributes.append(
            {
                "key": conventions.ATTR_SEQ,
                "value": draw(st.one_of(st.builds(lambda number: {"intValue": str(number)}, INTS), JSON_ANY_VALUES)),
            }
        )
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.one_of(st.sampled_from(ATTRIBUTE_KEYS), st.text(max_size=6)))
        value = draw(JSON_ANY_VALUES)
        if draw(st.integers(0, 20)) == 0:
            value = deeply_nested(value, draw(st.integers(1, 400)), draw(st.sampled_from(["array", "kvlist"])))
        attributes.append({"key": key, "value": value})
    return attributes


@st.composite
def json_log_records(draw) -> dict:
    fields = {
        "attributes": draw(json_attributes()),
        "eventName": draw(st.one_of(st.sampled_from(EVENT_NAMES), st.text(max_size=6))),
    }
    optional = {
        "timeUnixNano": JSON_TIMES,
        "observedTimeUnixNano": JSON_TIMES,
        "severityNumber": INTS,
        "severityText": st.text(max_size=6),
        "body": JSON_ANY_VALUES,
        "traceId": st.one_of(st.text("0123456789abcdef", min_size=32, max_size=32), st.text(max_size=8)),
        "spanId": st.one_of(st.text("0123456789abcdef", min_size=16, max_size=16), st.text(max_size=8)),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            fields[key] = draw(strategy)
    return fields


@st.composite
def json_otlp_bodies(draw) -> tuple[str, bytes]:
    """Structurally valid OTLP/JSON (logs or traces) with random attributes, values and nesting."""
    resource = {"attributes": draw(json_attributes())}
    if draw(st.booleans()):
        records = draw(st.lists(json_log_records(), max_size=3))
        body = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}
        return "/v1/logs", json.dumps(body).encode()
    spans = [{"attributes": draw(json_attributes())} for _ in range(draw(st.integers(0, 3)))]
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    return "/v1/traces", json.dumps(body).encode()


def json_documents() -> st.SearchStrategy:
    """Any JSON document, its object keys often OTLP's, so the decoder meets every type confusion."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)
    )
    keys = st.one_of(st.sampled_from(OTLP_KEYS), st.text(max_size=6))
    return st.recursive(
        scalars,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
        max_leaves=15,
    )


@st.composite
def protobuf_bodies(draw) -> tuple[str, bytes]:
    """Structurally valid OTLP protobuf with random attribute values of every type."""

    def attributes() -> dict:
        values = {}
        if draw(st.booleans()) or draw(st.booleans()):
            values[conventions.ATTR_JOB_ID] = draw(JOB_IDS)
            values[conventions.ATTR_SEQ] = draw(st.one_of(st.integers(1, 50), SMALL_PYTHON_VALUES))
        for _ in range(draw(st.integers(0, 4))):
            values[draw(st.one_of(st.sampled_from(ATTRIBUTE_KEYS), st.text(max_size=6)))] = draw(PYTHON_VALUES)
        return values

    if draw(st.booleans()):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(key_values(attributes()))
        for _ in range(draw(st.integers(0, 3))):
            resource_spans.scope_spans.add().spans.add().attributes.extend(key_values(attributes()))
        return "/v1/traces", request.SerializeToString()
    records = []
    for _ in range(draw(st.integers(0, 3))):
        line = record(
            draw(st.one_of(st.sampled_from(EVENT_NAMES), st.text(max_size=6))),
            attributes(),
            time_ns=draw(st.one_of(st.just(None), st.integers(0, 2**64 - 1), st.sampled_from([2**63 - 1, 2**63]))),
            severity=draw(st.sampled_from([None, "debug", "info", "warning", "error", "critical"])),
        )
        line.observed_time_unix_nano = draw(st.integers(0, 2**64 - 1))
        if draw(st.booleans()):
            line.body.CopyFrom(any_value(draw(PYTHON_VALUES)))
        records.append(line)
    return "/v1/logs", logs_request(records, resource=attributes())


@st.composite
def mutated_protobuf(draw) -> tuple[str, bytes]:
    """A valid protobuf body with a few bytes changed, inserted or cut: malformed in every layer."""
    path, body = draw(protobuf_bodies())
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "cut"]))
        if action == "insert" or not data:
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif action == "flip":
            data[min(position, len(data) - 1)] ^= draw(st.integers(1, 255))
        else:
            del data[position : position + draw(st.integers(1, 8))]
    return path, bytes(data)


NUMERIC_KEYS = [
    conventions.ATTR_SEQ,
    conventions.ATTR_PROCESSED,
    conventions.ATTR_FAILED,
    conventions.ATTR_TOTAL,
    conventions.ATTR_STEP_INDEX,
    conventions.ATTR_STEP_COUNT,
    conventions.ATTR_STEP_DURATION,
    conventions.ATTR_EXPECTED_DURATION,
    conventions.ATTR_HEARTBEAT_INTERVAL,
    conventions.ATTR_MEMORY_RSS,
    conventions.ATTR_MEMORY_VIRTUAL,
    conventions.ATTR_CPU_UTILIZATION,
    conventions.ATTR_THREAD_COUNT,
    conventions.ATTR_OPEN_FDS,
    conventions.ATTR_CONTROL_COMMAND,
]


@st.composite
def poisoned_bodies(draw) -> tuple[str, str, bytes]:
    """A well-formed run of one job with one extreme number in it: what a broken sender sends."""
    job = draw(JOB_IDS.filter(str.strip))
    records = [
        (
            conventions.EVENT_START,
            {conventions.ATTR_JOB_ID: job, conventions.ATTR_SEQ: 1, conventions.ATTR_JOB_NAME: "poisoned"},
        ),
        (
            conventions.EVENT_PROGRESS,
            {conventions.ATTR_JOB_ID: job, conventions.ATTR_SEQ: 2, conventions.ATTR_PROCESSED: 1},
        ),
        (
            conventions.EVENT_END,
            {conventions.ATTR_JOB_ID: job, conventions.ATTR_SEQ: 3, conventions.ATTR_STATUS: "completed"},
        ),
    ]
    extreme = draw(st.one_of(EXTREME_INTS, EXTREME_FLOATS, st.sampled_from([math.nan, math.inf, -math.inf])))
    records[draw(st.integers(0, 2))][1][draw(st.sampled_from(NUMERIC_KEYS))] = extreme
    time_ns = draw(st.sampled_from([None, None, 2**63, 2**64 - 1]))
    if draw(st.booleans()):
        fields = {"timeUnixNano": str(time_ns)} if time_ns else {}
        return (
            "/v1/logs",
            codec.JSON,
            json_logs_request([json_record(name, attrs, **fields) for name, attrs in records]),
        )
    for _, attributes in records:  # protobuf carries no int beyond 64 bits: send those as doubles
        attributes.update(
            {
                key: float(value)
                for key, value in attributes.items()
                if type(value) is int and not INT64[0] <= value <= INT64[1]
            }
        )
    return "/v1/logs", codec.PROTOBUF, logs_request([record(name, attrs, time_ns=time_ns) for name, attrs in records])


PATHS = st.sampled_from(["/v1/logs", "/v1/traces"])
OTLP_BODY = st.one_of(
    poisoned_bodies(),
    json_otlp_bodies().map(lambda made: (made[0], codec.JSON, made[1])),
    protobuf_bodies().map(lambda made: (made[0], codec.PROTOBUF, made[1])),
)
ANY_BODY = st.one_of(
    st.tuples(PATHS, st.sampled_from([codec.PROTOBUF, codec.JSON]), st.binary(max_size=300)),
    st.tuples(PATHS, st.just(codec.JSON), json_documents().map(lambda doc: json.dumps(doc).encode())),
    OTLP_BODY,
    mutated_protobuf().map(lambda made: (made[0], codec.PROTOBUF, made[1])),
)

# ---- the direct path ------------------------------------------------------------------------------


def bystander_events() -> list[JobEvent]:
    running, ended = BYSTANDERS
    return [
        JobEvent(kind="start", job_id=running, seq=1, time_ns=1, name="bystander", total=10, processed=0),
        JobEvent(kind="progress", job_id=running, seq=2, time_ns=2, processed=4),
        JobEvent(kind="start", job_id=ended, seq=1, time_ns=1, name="bystander", processed=0),
        JobEvent(kind="end", job_id=ended, seq=2, time_ns=2, status="completed", processed=7),
    ]


def assert_storable(state: JobState) -> None:
    """Every column of every row the history writer would make of ``state`` fits its column."""
    job = rows.job_row(state)
    assert rows.decode_state(job["state"]).id == state.id
    for row in [job, *rows.step_rows(state), *(rows.log_row(state.id, line) for line in state.logs)]:
        for column, value in row.items():
            if type(value) is int:
                low, high = INT32 if column in INT32_COLUMNS else INT64
                assert low <= value <= high, f"{state.id}: {column} = {value} does not fit its column"
            elif type(value) is float:
                assert math.isfinite(value), f"{state.id}: {column} = {value} cannot be stored"


def ingest(path: str, kind: str, body: bytes) -> None:
    """Ingest one body into a store that holds the bystanders; check every promise made about it."""
    store = JobStore()
    store.apply_all(bystander_events())
    before = {job_id: store.get(job_id) for job_id in BYSTANDERS}
    changed: dict[str, JobState] = {}

    def remember(change: JobChange) -> None:
        changed[change.new.id] = change.new

    store.add_listener(remember)
    ingestor = Ingestor(store, max_request_bytes=1 << 20)
    try:
        if path == "/v1/logs":
            rejected, message = ingestor.ingest_logs(kind, body)
            assert bool(rejected) == bool(message)
        else:
            ingestor.ingest_spans(kind, body)
    except BodyError as error:
        assert 400 <= error.status_code < 500 and error.detail
        assert not changed, "a rejected body changed jobs"
    for job_id, state in before.items():
        assert store.get(job_id) is state, f"{job_id} changed by a body that does not name it"
    for state in changed.values():
        assert_storable(state)


@DIRECT
@given(ANY_BODY)
def test_any_body_is_applied_or_refused_with_a_4xx(made):
    ingest(*made)


@DIRECT
@given(json_otlp_bodies())
def test_any_otlp_json_is_applied_or_refused_with_a_4xx(made):
    ingest(made[0], codec.JSON, made[1])


@DIRECT
@given(protobuf_bodies())
def test_any_otlp_protobuf_is_applied_or_refused_with_a_4xx(made):
    ingest(made[0], codec.PROTOBUF, made[1])


# ---- through a real sidecar -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed_sidecar(tmp_path_factory: pytest.TempPathFactory):
    process = SidecarProcess(tmp_path_factory.mktemp("fuzz"), history_flush_interval_s=0.05).start()
    yield process
    process.stop_soon()


def test_arbitrary_requests_never_get_a_5xx_nor_touch_other_jobs(fuzzed_sidecar):
    bystander = JobEmitter(BYSTANDERS[1])
    fuzzed_sidecar.post(
        "/v1/logs",
        content=logs_request([bystander.start(name="bystander", total=9), bystander.end(processed=9)]),
        headers={"content-type": codec.PROTOBUF},
    )
    seen_before = fuzzed_sidecar.get(f"/api/jobs/{bystander.job_id}").json()

    @OVER_HTTP
    @given(st.one_of(poisoned_bodies(), ANY_BODY), st.booleans())
    def post(made, zipped):
        path, kind, body = made
        headers = {"content-type": kind}
        if zipped:
            body, headers["content-encoding"] = gzip.compress(body), "gzip"
        response = fuzzed_sidecar.post(path, content=body, headers=headers)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.json()["detail"]
        assert fuzzed_sidecar.get(f"/api/jobs/{bystander.job_id}").json() == seen_before

    post()
    log = fuzzed_sidecar.log()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
    # Nothing accepted stopped the history writer: a job sent now still reaches history.
    after = JobEmitter(uuid.uuid4().hex)
    name = f"after-fuzz-{after.job_id[:8]}"
    fuzzed_sidecar.post(
        "/v1/logs",
        content=logs_request([after.start(name=name), after.end(processed=1)]),
        headers={"content-type": codec.PROTOBUF},
    )
    wait_for(lambda: fuzzed_sidecar.get("/api/jobs", name=name).json().get("total") == 1, timeout=10.0)
    assert fuzzed_sidecar.get("/readyz").status_code == 200
