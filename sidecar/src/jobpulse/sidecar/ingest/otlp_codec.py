"""OTLP/HTTP bodies in and out: protobuf and JSON requests decoded into plain records.

Log records of either encoding become JobEvents through one function (``records.job_event``), with
attribute values as plain Python values: JSON records by way of :class:`LogRecordData`, protobuf
records read straight from the parsed message, in one pass (the hottest path of the sidecar). The
JSON side follows the OTLP/JSON mapping: lowerCamelCase keys, 64-bit integers as decimal strings or
numbers, trace and span ids as hex.

Either encoding nests arrays and maps in a value at most :data:`MAX_VALUE_DEPTH` levels deep; a body
with a deeper value, anywhere, is a 400, whichever encoding and whichever field it is in.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator
from typing import Any

import msgspec
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# How deep arrays and maps may nest in one attribute value or body. Far beyond what structured data
# needs, and below where the protobuf decoder stops on its own (100 nested messages: some 30 levels
# of maps), so both encodings answer the same.
MAX_VALUE_DEPTH = 20
_TOO_DEEP = f"values nested deeper than {MAX_VALUE_DEPTH} levels"


class BodyError(Exception):
    """The request body cannot be used; ``status_code`` says why (400, 413 or 415)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class LogRecordData(msgspec.Struct, gc=False):
    """One log record with its resource attributes, decoded from OTLP/JSON (protobuf records are read
    in one pass instead: `logs_protobuf`)."""

    resource: dict[str, Any]
    event_name: str
    time_ns: int
    observed_ns: int
    severity_number: int
    severity_text: str
    body: Any
    attributes: dict[str, Any]
    trace_id: str | None
    span_id: str | None


class SpanData(msgspec.Struct, gc=False):
    """The little the sidecar reads of a span."""

    resource: dict[str, Any]
    attributes: dict[str, Any]


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header, or raise 415."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    if value in (PROTOBUF, JSON):
        return value
    shown = value or "none"
    raise BodyError(415, f"unsupported content type '{shown}': send {PROTOBUF} or {JSON}")


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding (identity or gzip), never inflating beyond ``limit`` bytes."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise BodyError(415, f"unsupported content encoding '{encoding}': send gzip or identity")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise BodyError(400, f"malformed gzip body: {error}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise BodyError(413, f"decompressed body is over the {limit}-byte limit")
    if not inflater.eof:
        raise BodyError(400, "malformed gzip body: truncated stream")
    return data


# ---- protobuf -----------------------------------------------------------------------------------

_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def pb_value(value: Any, depth: int = 0) -> Any:
    """An AnyValue as a plain Python value (BodyError when it nests too deep)."""
    kind = value.WhichOneof("value")
    if kind in _SCALARS:
        return getattr(value, kind)
    if kind == "array_value":
        return [pb_value(item, _deeper(depth, "protobuf")) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: pb_value(kv.value, _deeper(depth, "protobuf")) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def _deeper(depth: int, encoding: str) -> int:
    if depth >= MAX_VALUE_DEPTH:
        raise BodyError(400, f"malformed {encoding} body: {_TOO_DEEP}")
    return depth + 1


def _pb_attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: pb_value(kv.value) for kv in key_values}


def _parse(message: Any, body: bytes) -> Any:
    try:
        message.ParseFromString(body)
    except DecodeError as error:
        # The decoder's own depth limit is on nested messages; in OTLP only values nest that deep.
        reason = f"{_TOO_DEEP} ({error})" if "MaxDepth" in str(error) else str(error)
        raise BodyError(400, f"malformed protobuf body: {reason}") from None
    return message


def _logs_message_classes() -> tuple[Any, Any]:
    """ExportLogsServiceRequest with ``ResourceLogs.resource`` declared ``bytes``, and the Resource to
    parse those bytes with, its ``attributes`` (as those of ``LogRecord``) declared ``repeated bytes``.

    A message field is length-delimited on the wire like a bytes field, so the same bodies parse.
    Each record's attributes come out as their encoded bytes instead of two message objects apiece:
    most of them (job id, step, totals, small seqs and counts) repeat across records and requests
    byte for byte and are turned into values once (`key_values`). A resource comes out whole, as the
    bytes every request of one process repeats, so what it means can be remembered the same way.
    """
    pool = descriptor_pool.DescriptorPool()
    as_bytes = {
        (resource_pb2, "Resource", "attributes"),
        (logs_pb2, "LogRecord", "attributes"),
        (logs_pb2, "ResourceLogs", "resource"),
    }
    for module in (common_pb2, resource_pb2, logs_pb2, logs_service_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        for message in proto.message_type:
            for field in message.field:
                if (module, message.name, field.name) in as_bytes:
                    field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    field.ClearField("type_name")
        pool.Add(proto)
    request, resource = (
        message_factory.GetMessageClass(pool.FindMessageTypeByName(message.DESCRIPTOR.full_name))
        for message in (ExportLogsServiceRequest, resource_pb2.Resource)
    )
    return request, resource


_LogsRequest, _Resource = _logs_message_classes()

# Encoded KeyValue -> (key, value), for scalar values (immutable, so shared between events). Cleared
# when full (about 2 MB): a few thousand distinct attributes cover what a fleet's records repeat.
_KEY_VALUES: dict[bytes, tuple[str, Any]] = {}
_KEY_VALUES_CAPACITY = 8_192


def logs_protobuf(body: bytes) -> Iterator[tuple[bytes, list[Any]]]:
    """Parse a protobuf ExportLogsServiceRequest; yield (encoded Resource, the LogRecord messages of
    each of its scopes) per resource. The records are left as parsed, their attributes as encoded
    KeyValues: the caller reads each record in one pass (records.py), its attributes with
    `key_values`, and the resource's with `resource_attributes`."""
    request = _parse(_LogsRequest(), body)
    for resource_logs in request.resource_logs:
        yield resource_logs.resource, [scope_logs.log_records for scope_logs in resource_logs.scope_logs]


def resource_attributes(encoded: bytes) -> dict[str, Any]:
    """The attributes of an encoded Resource (from `logs_protobuf`) as a dict of plain values;
    BodyError when it is malformed."""
    return key_values(_parse(_Resource(), encoded).attributes)


def key_values(encoded: Any) -> dict[str, Any]:
    """A record's attributes (from `logs_protobuf`) as a dict of plain values; BodyError when one is
    malformed or nests too deep."""
    attributes = {}
    known = _KEY_VALUES.get
    for raw in encoded:
        pair = known(raw) or _key_value(raw)
        attributes[pair[0]] = pair[1]
    return attributes


def _key_value(raw: bytes) -> tuple[str, Any]:
    key_value = _parse(KeyValue(), raw)
    pair = (key_value.key, pb_value(key_value.value))
    if type(pair[1]) in (str, int, float, bool):
        if len(_KEY_VALUES) >= _KEY_VALUES_CAPACITY:
            _KEY_VALUES.clear()
        _KEY_VALUES[raw] = pair
    return pair


def iter_spans_protobuf(body: bytes) -> Iterator[SpanData]:
    """Yield the spans of a protobuf ExportTraceServiceRequest."""
    request = _parse(ExportTraceServiceRequest(), body)
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield SpanData(resource=resource, attributes=_pb_attributes(span.attributes))


# ---- JSON ---------------------------------------------------------------------------------------


class _JsonArray(msgspec.Struct, rename="camel"):
    values: list[_JsonAnyValue] = []


class _JsonKeyValue(msgspec.Struct, rename="camel"):
    key: str
    value: _JsonAnyValue | None = None


class _JsonKeyValueList(msgspec.Struct, rename="camel"):
    values: list[_JsonKeyValue] = []


class _JsonAnyValue(msgspec.Struct, rename="camel"):
    string_value: str | None = None
    bool_value: bool | None = None
    int_value: int | str | None = None
    double_value: float | str | None = None
    array_value: _JsonArray | None = None
    kvlist_value: _JsonKeyValueList | None = None
    bytes_value: str | None = None


class _JsonResource(msgspec.Struct, rename="camel"):
    attributes: list[_JsonKeyValue] = []


class _JsonLogRecord(msgspec.Struct, rename="camel"):
    time_unix_nano: int | str = 0
    observed_time_unix_nano: int | str = 0
    severity_number: int = 0
    severity_text: str = ""
    body: _JsonAnyValue | None = None
    attributes: list[_JsonKeyValue] = []
    trace_id: str = ""
    span_id: str = ""
    event_name: str = ""


class _JsonScopeLogs(msgspec.Struct, rename="camel"):
    log_records: list[_JsonLogRecord] = []


class _JsonResourceLogs(msgspec.Struct, rename="camel"):
    resource: _JsonResource = msgspec.field(default_factory=_JsonResource)
    scope_logs: list[_JsonScopeLogs] = []


class _JsonLogsRequest(msgspec.Struct, rename="camel"):
    resource_logs: list[_JsonResourceLogs] = []


class _JsonSpan(msgspec.Struct, rename="camel"):
    attributes: list[_JsonKeyValue] = []


class _JsonScopeSpans(msgspec.Struct, rename="camel"):
    spans: list[_JsonSpan] = []


class _JsonResourceSpans(msgspec.Struct, rename="camel"):
    resource: _JsonResource = msgspec.field(default_factory=_JsonResource)
    scope_spans: list[_JsonScopeSpans] = []


class _JsonTraceRequest(msgspec.Struct, rename="camel"):
    resource_spans: list[_JsonResourceSpans] = []


_logs_decoder = msgspec.json.Decoder(_JsonLogsRequest)
_trace_decoder = msgspec.json.Decoder(_JsonTraceRequest)


def _json_int(value: int | str, where: str) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise BodyError(400, f"malformed JSON body: {where} must be an integer, got {value!r}") from None


def _json_double(value: float | str) -> float:
    # The JSON mapping spells NaN and the infinities as strings, and allows any double as one.
    if type(value) is float:
        return value
    try:
        return float(value)
    except ValueError:
        raise BodyError(400, f"malformed JSON body: doubleValue must be a number, got {value!r}") from None


def _json_value(value: _JsonAnyValue | None, depth: int = 0) -> Any:
    if value is None:
        return None
    if value.string_value is not None:
        return value.string_value
    if value.int_value is not None:
        return _json_int(value.int_value, "intValue")
    if value.double_value is not None:
        return _json_double(value.double_value)
    if value.bool_value is not None:
        return value.bool_value
    if value.array_value is not None:
        return [_json_value(item, _deeper(depth, "JSON")) for item in value.array_value.values]
    if value.kvlist_value is not None:
        return {kv.key: _json_value(kv.value, _deeper(depth, "JSON")) for kv in value.kvlist_value.values}
    return value.bytes_value


def _json_attributes(key_values: list[_JsonKeyValue]) -> dict[str, Any]:
    return {kv.key: _json_value(kv.value) for kv in key_values}


def _json_id(value: str, size: int, what: str) -> str | None:
    if not value:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise BodyError(400, f"malformed JSON body: {what} must be hex, got {value!r}") from None
    if len(raw) != size:
        raise BodyError(400, f"malformed JSON body: {what} must be {size} bytes of hex, got {value!r}")
    return None if raw == bytes(size) else value.lower()


def _decode_json(decoder: msgspec.json.Decoder, body: bytes) -> Any:
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as error:  # ValidationError included
        raise BodyError(400, f"malformed JSON body: {error}") from None
    except RecursionError:
        # msgspec guards its recursion with the interpreter's limit: nesting deeper than the stack
        # allows, in any field, known or not, ends here rather than in the process.
        raise BodyError(400, f"malformed JSON body: {_TOO_DEEP}") from None


def iter_logs_json(body: bytes) -> Iterator[LogRecordData]:
    """Yield the log records of an OTLP/JSON ExportLogsServiceRequest."""
    request = _decode_json(_logs_decoder, body)
    for resource_logs in request.resource_logs:
        resource = _json_attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                yield LogRecordData(
                    resource=resource,
                    event_name=record.event_name,
                    time_ns=_json_int(record.time_unix_nano, "timeUnixNano"),
                    observed_ns=_json_int(record.observed_time_unix_nano, "observedTimeUnixNano"),
                    severity_number=record.severity_number,
                    severity_text=record.severity_text,
                    body=_json_value(record.body),
                    attributes=_json_attributes(record.attributes),
                    trace_id=_json_id(record.trace_id, 16, "traceId"),
                    span_id=_json_id(record.span_id, 8, "spanId"),
                )


def iter_spans_json(body: bytes) -> Iterator[SpanData]:
    """Yield the spans of an OTLP/JSON ExportTraceServiceRequest."""
    request = _decode_json(_trace_decoder, body)
    for resource_spans in request.resource_spans:
        resource = _json_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield SpanData(resource=resource, attributes=_json_attributes(span.attributes))


# ---- responses ----------------------------------------------------------------------------------


# A full success is an empty message, the same bytes every time.
_ALL_LOGS_TAKEN = ExportLogsServiceResponse().SerializeToString()
_ALL_SPANS_TAKEN = ExportTraceServiceResponse().SerializeToString()


def logs_response(kind: str, rejected: int, error_message: str) -> bytes:
    """An ExportLogsServiceResponse in the request's encoding."""
    if kind == JSON:
        return _json_response(rejected, error_message, "rejectedLogRecords")
    if not rejected:
        return _ALL_LOGS_TAKEN
    response = ExportLogsServiceResponse()
    response.partial_success.rejected_log_records = rejected
    response.partial_success.error_message = error_message
    return response.SerializeToString()


def trace_response(kind: str, rejected: int, error_message: str) -> bytes:
    """An ExportTraceServiceResponse in the request's encoding."""
    if kind == JSON:
        return _json_response(rejected, error_message, "rejectedSpans")
    if not rejected:
        return _ALL_SPANS_TAKEN
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = rejected
    response.partial_success.error_message = error_message
    return response.SerializeToString()


def _json_response(rejected: int, error_message: str, counter: str) -> bytes:
    if not rejected:
        return b"{}"
    return msgspec.json.encode({"partialSuccess": {counter: str(rejected), "errorMessage": error_message}})
