"""Turning one decoded OTLP log record into a JobEvent, checking it against docs/conventions.md."""

from __future__ import annotations

import sys
from collections.abc import Callable
from itertools import chain
from typing import Any

import msgspec

from jobpulse import conventions
from jobpulse.sidecar.ingest import otlp_codec as codec
from jobpulse.sidecar.model import events
from jobpulse.sidecar.model.events import INT64_MAX, JobEvent, level_from_severity
from jobpulse.sidecar.printable import printable

MAX_JOB_ID_LENGTH = 200
INT32_MAX = 2**31 - 1
MAX_SECONDS = 10 * 365.25 * 86_400.0
MAX_CPU_UTILIZATION = 1e5

KIND_OF_EVENT = {
    conventions.EVENT_QUEUED: events.KIND_QUEUED,
    conventions.EVENT_START: events.KIND_START,
    conventions.EVENT_PROGRESS: events.KIND_PROGRESS,
    conventions.EVENT_STEP: events.KIND_STEP,
    conventions.EVENT_RESOURCES: events.KIND_RESOURCES,
    conventions.EVENT_PAUSED: events.KIND_PAUSED,
    conventions.EVENT_RESUMED: events.KIND_RESUMED,
    conventions.EVENT_END: events.KIND_END,
}

STEP_STATES = frozenset({conventions.STEP_STARTED, conventions.STEP_COMPLETED, conventions.STEP_FAILED})


class RecordError(ValueError):
    """The record claims to be a job's but breaks the conventions; the message names the attribute."""


def _type_name(value: Any) -> str:
    return {str: "string", bool: "bool", int: "int", float: "double", list: "array", dict: "map"}.get(
        type(value), type(value).__name__
    )


def _int_in(low: int, high: int) -> Callable[[str, Any], int]:
    """A converter to an int in ``low..high``; a double with a whole value counts as an int."""

    def convert(key: str, value: Any) -> int:
        if type(value) is int:
            number = value
        elif type(value) is float and value.is_integer():
            number = int(value)
        else:
            raise RecordError(f"{key} must be an int, got {_type_name(value)} {value!r}")
        if not low <= number <= high:
            raise RecordError(f"{key} must be an int in {low}..{high}, got {_type_name(value)} {value!r}")
        return number

    return convert


def _number_in(low: float, high: float) -> Callable[[str, Any], float]:
    """A converter to a finite float in ``low..high`` (NaN fails every comparison)."""

    def convert(key: str, value: Any) -> float:
        if type(value) in (int, float) and low <= value <= high:
            return float(value)
        raise RecordError(f"{key} must be a number in {low:.0f}..{high:.0f}, got {_type_name(value)} {value!r}")

    return convert


# Counts, sizes, seqs and command ids: what a signed 64-bit column holds, never negative.
_as_count = _int_in(0, INT64_MAX)
_as_seq = _int_in(1, INT64_MAX)
# Step positions: job_steps.step_index is a 32-bit column on PostgreSQL.
_as_step_index = _int_in(0, INT32_MAX)
# Priorities: a 32-bit int, either sign (schedulers differ on which way is urgent).
_as_priority = _int_in(conventions.MIN_PRIORITY, conventions.MAX_PRIORITY)
# Durations and intervals: up to ten years. Step durations are summed as nanoseconds.
_as_seconds = _number_in(0.0, MAX_SECONDS)
# A fraction of one CPU: a machine with more cores than this is not in sight.
_as_cpu = _number_in(0.0, MAX_CPU_UTILIZATION)


def _as_str(key: str, value: Any) -> str:
    if type(value) is str:
        return value
    raise RecordError(f"{key} must be a string, got {_type_name(value)} {value!r}")


def _as_name(key: str, value: Any) -> str:
    # Names, types, owners, steps and statuses repeat across thousands of events: keep one copy.
    return sys.intern(_as_str(key, value))


def _as_queue(key: str, value: Any) -> str:
    # A queue name becomes a metric label and an alert key: a short, non-empty name.
    name = _as_name(key, value)
    if not name or len(name) > conventions.MAX_QUEUE_LENGTH:
        raise RecordError(
            f"{key} must be a string of 1..{conventions.MAX_QUEUE_LENGTH} characters, got {len(name)} characters"
        )
    return name


def _as_str_tuple(key: str, value: Any) -> tuple[str, ...]:
    if type(value) is list and all(type(item) is str for item in value):
        return tuple(value)
    raise RecordError(f"{key} must be an array of strings, got {_type_name(value)} {value!r}")


# attribute -> (JobEvent field, converter); read from every non-log event that carries them.
_EVENT_FIELDS: tuple[tuple[str, str, Callable[[str, Any], Any]], ...] = (
    (conventions.ATTR_PROCESSED, "processed", _as_count),
    (conventions.ATTR_FAILED, "failed", _as_count),
    (conventions.ATTR_TOTAL, "total", _as_count),
    (conventions.ATTR_STEP, "step", _as_name),
    (conventions.ATTR_STEP_INDEX, "step_index", _as_step_index),
    (conventions.ATTR_STEP_COUNT, "step_count", _as_step_index),
    (conventions.ATTR_STEP_STATE, "step_state", _as_name),
    (conventions.ATTR_STEP_DURATION, "step_duration_s", _as_seconds),
    (conventions.ATTR_JOB_NAME, "name", _as_name),
    (conventions.ATTR_JOB_TYPE, "job_type", _as_name),
    (conventions.ATTR_JOB_OWNER, "owner", _as_name),
    (conventions.ATTR_EXPECTED_DURATION, "expected_duration_s", _as_seconds),
    (conventions.ATTR_HEARTBEAT_INTERVAL, "heartbeat_interval_s", _as_seconds),
    (conventions.ATTR_STEP_NAMES, "step_names", _as_str_tuple),
    (conventions.ATTR_QUEUE, "queue", _as_queue),
    (conventions.ATTR_PRIORITY, "priority", _as_priority),
    (conventions.ATTR_MEMORY_RSS, "rss_bytes", _as_count),
    (conventions.ATTR_MEMORY_VIRTUAL, "vms_bytes", _as_count),
    (conventions.ATTR_CPU_UTILIZATION, "cpu_utilization", _as_cpu),
    (conventions.ATTR_THREAD_COUNT, "threads", _as_count),
    (conventions.ATTR_OPEN_FDS, "open_fds", _as_count),
    (conventions.ATTR_STATUS, "status", _as_name),
    (conventions.ATTR_EXCEPTION_TYPE, "error_type", _as_str),
    (conventions.ATTR_EXCEPTION_MESSAGE, "error_message", _as_str),
    (conventions.ATTR_EXCEPTION_STACKTRACE, "error_stacktrace", _as_str),
    (conventions.ATTR_CONTROL_COMMAND, "command_id", _as_seq),
)

# attribute -> (field, converter), looked up per attribute a record carries: a record has a handful,
# the table has two dozen.
# The range of each int converter: an int inside it is taken as it is, without a call (most values
# a record carries are such ints). Other converters get an empty range.
_INT_RANGES = {
    _as_count: (0, INT64_MAX),
    _as_seq: (1, INT64_MAX),
    _as_step_index: (0, INT32_MAX),
    _as_priority: (-INT32_MAX - 1, INT32_MAX),
}
_FIELD_OF = {key: (field, convert, *_INT_RANGES.get(convert, (1, 0))) for key, field, convert in _EVENT_FIELDS}
# Attributes a start event understands; everything else it carries is the job's own attributes.
_KNOWN_ATTRIBUTES = frozenset(_FIELD_OF) | {conventions.ATTR_JOB_ID, conventions.ATTR_SEQ, conventions.ATTR_EVENT_NAME}
_LOG_META = frozenset(
    {conventions.ATTR_JOB_ID, conventions.ATTR_SEQ, conventions.ATTR_LOGGER_NAME, conventions.ATTR_EVENT_NAME}
)


def origin_of(resource: dict[str, Any]) -> dict[str, Any]:
    """Where records of ``resource`` come from: service, host and pid, as JobEvent fields."""
    service = resource.get(conventions.RESOURCE_SERVICE_NAME)
    host = resource.get(conventions.RESOURCE_HOST_NAME)
    pid = resource.get(conventions.RESOURCE_PROCESS_PID)
    if type(pid) is float and pid.is_integer():
        pid = int(pid)
    return {
        "service": sys.intern(service) if type(service) is str else None,
        "host": sys.intern(host) if type(host) is str else None,
        # jobs.pid is a 32-bit column on PostgreSQL; a pid that cannot be one is no pid at all.
        "pid": pid if type(pid) is int and 0 <= pid <= INT32_MAX else None,
    }


# Encoded Resource -> `origin_of` its attributes. A process sends the same resource with every
# request, so a sidecar sees about one per process it hears from; cleared when full.
_ORIGINS: dict[bytes, dict[str, Any]] = {}
_ORIGINS_CAPACITY = 1_024


def _origin_of_encoded(resource: bytes) -> dict[str, Any]:
    origin = _ORIGINS.get(resource)
    if origin is None:
        origin = origin_of(codec.resource_attributes(resource))
        if len(_ORIGINS) >= _ORIGINS_CAPACITY:
            _ORIGINS.clear()
        _ORIGINS[resource] = origin
    return origin


def _message(body: Any) -> str:
    if body is None:
        return ""
    if type(body) is str:
        return body
    return msgspec.json.encode(body).decode()


Outcome = JobEvent | RecordError | None
"""What one record becomes: its event, why it is rejected, or None (no job id: not a job's record)."""


def events_of_protobuf(body: bytes, received_ns: int) -> list[Outcome]:
    """The outcome of each log record of a protobuf ExportLogsServiceRequest, in order.

    Each record is read once, straight from the parsed message into its event (its attributes through
    `otlp_codec.key_values`). BodyError when the body is malformed or a value nests too deep, before
    any outcome is returned.
    """
    outcomes: list[Outcome] = []
    append = outcomes.append
    key_values = codec.key_values
    pb_value = codec.pb_value
    for resource, scopes in codec.logs_protobuf(body):
        # Read even when no record follows: a malformed resource is a malformed body.
        origin = _origin_of_encoded(resource)
        for record in chain.from_iterable(scopes):
            attributes = key_values(record.attributes)
            trace_id = record.trace_id
            span_id = record.span_id
            try:
                event = job_event(
                    record.event_name,
                    attributes,
                    record.time_unix_nano,
                    record.observed_time_unix_nano,
                    record.severity_number,
                    record.severity_text,
                    pb_value(record.body),
                    trace_id.hex() if trace_id else None,
                    span_id.hex() if span_id else None,
                    received_ns,
                    origin,
                )
            except RecordError as error:
                append(error)
                continue
            append(event)
    return outcomes


def events_of_json(body: bytes, received_ns: int) -> list[Outcome]:
    """The outcome of each log record of an OTLP/JSON ExportLogsServiceRequest, in order (BodyError
    when the body is malformed, before any outcome is returned)."""
    outcomes: list[Outcome] = []
    resource: dict[str, Any] | None = None
    origin: dict[str, Any] = {}
    for record in list(codec.iter_logs_json(body)):
        if record.resource is not resource:
            resource = record.resource
            origin = origin_of(resource)
        try:
            outcomes.append(
                job_event(
                    record.event_name,
                    record.attributes,
                    record.time_ns,
                    record.observed_ns,
                    record.severity_number,
                    record.severity_text,
                    record.body,
                    record.trace_id,
                    record.span_id,
                    received_ns,
                    origin,
                )
            )
        except RecordError as error:
            outcomes.append(error)
    return outcomes


def job_event(
    event_name: str,
    attributes: dict[str, Any],
    time_ns: int,
    observed_ns: int,
    severity_number: int,
    severity_text: str,
    body: Any,
    trace_id: str | None,
    span_id: str | None,
    received_ns: int,
    origin: dict[str, Any],
) -> JobEvent | None:
    """The JobEvent of one log record; None when it carries no job id; RecordError when it is invalid.

    ``origin`` is ``origin_of`` the record's resource attributes.
    """
    job_id = attributes.get(conventions.ATTR_JOB_ID)
    if job_id is None:
        return None
    if type(job_id) is not str or not job_id.strip():
        raise RecordError(f"{conventions.ATTR_JOB_ID} must be a non-empty string, got {job_id!r}")
    if len(job_id) > MAX_JOB_ID_LENGTH:
        raise RecordError(f"{conventions.ATTR_JOB_ID} is longer than {MAX_JOB_ID_LENGTH} characters")
    if "\x00" in job_id:
        # An id is what REST addresses and every table keys on: PostgreSQL cannot hold it, and the
        # REST API refuses it in a path (api/nul.py), so such a job could be neither stored nor read.
        raise RecordError(f"{conventions.ATTR_JOB_ID} must not contain a NUL character, got '{printable(job_id)}'")
    seq = attributes.get(conventions.ATTR_SEQ)
    if seq is None:
        raise RecordError(f"{conventions.ATTR_SEQ} is missing on a record of job {job_id!r}")
    if not (type(seq) is int and 1 <= seq <= INT64_MAX):
        seq = _as_seq(conventions.ATTR_SEQ, seq)
    event_time_ns = time_ns or observed_ns or received_ns
    if not 0 <= event_time_ns <= INT64_MAX:
        field = "time_unix_nano" if time_ns else "observed_time_unix_nano"
        raise RecordError(f"{field} must be in 0..{INT64_MAX}, got {event_time_ns}")

    event_name = event_name or attributes.get(conventions.ATTR_EVENT_NAME) or ""
    kind = KIND_OF_EVENT.get(event_name, events.KIND_LOG) if type(event_name) is str else events.KIND_LOG
    fields: dict[str, Any] = {
        "kind": kind,
        "job_id": job_id,
        "seq": seq,
        "time_ns": event_time_ns,
        "received_ns": received_ns,
        "trace_id": trace_id,
        "span_id": span_id,
    }
    fields.update(origin)

    if kind == events.KIND_LOG:
        logger = attributes.get(conventions.ATTR_LOGGER_NAME)
        extra = {key: value for key, value in attributes.items() if key not in _LOG_META}
        fields.update(
            level=level_from_severity(severity_number, severity_text),
            message=_message(body),
            logger=sys.intern(logger) if type(logger) is str else None,
            attributes=extra or None,
        )
        return JobEvent(**fields)

    for key, value in attributes.items():
        known = _FIELD_OF.get(key)
        if known is not None and value is not None:
            field, convert, low, high = known
            fields[field] = value if type(value) is int and low <= value <= high else convert(key, value)
    if kind in _CHECKED_KINDS:
        _check_kind(kind, fields)
    if kind == events.KIND_START:
        extra = {key: value for key, value in attributes.items() if key not in _KNOWN_ATTRIBUTES}
        fields["attributes"] = extra or None
    return JobEvent(**fields)


# The kinds with required attributes (`_check_kind`); progress and resources have none.
_CHECKED_KINDS = frozenset({events.KIND_START, events.KIND_QUEUED, events.KIND_END, events.KIND_STEP})


def _check_kind(kind: str, fields: dict[str, Any]) -> None:
    if kind == events.KIND_START and not fields.get("name"):
        raise RecordError(f"{conventions.EVENT_START} requires {conventions.ATTR_JOB_NAME}")
    if kind == events.KIND_QUEUED:
        for attribute, field in ((conventions.ATTR_JOB_NAME, "name"), (conventions.ATTR_QUEUE, "queue")):
            if not fields.get(field):
                raise RecordError(f"{conventions.EVENT_QUEUED} requires {attribute}")
    if kind == events.KIND_END:
        status = fields.get("status")
        if status not in conventions.END_STATUSES:
            allowed = sorted(conventions.END_STATUSES)
            raise RecordError(
                f"{conventions.EVENT_END} requires {conventions.ATTR_STATUS} in {allowed}, got {status!r}"
            )
    if kind == events.KIND_STEP:
        if not fields.get("step"):
            raise RecordError(f"{conventions.EVENT_STEP} requires {conventions.ATTR_STEP}")
        if fields.get("step_state") not in STEP_STATES:
            raise RecordError(
                f"{conventions.EVENT_STEP} requires {conventions.ATTR_STEP_STATE} in {sorted(STEP_STATES)}, "
                f"got {fields.get('step_state')!r}"
            )
