"""Building real OTLP/HTTP export requests (protobuf or JSON) for tests that talk to a sidecar.

    job = JobEmitter("job-1")
    post_logs(url, [job.start(name="import", total=10), job.progress(processed=5)])

The JSON builders write OTLP/JSON directly, so they can carry what protobuf cannot (an ``intValue``
beyond 64 bits, a ``doubleValue`` of ``"NaN"``).
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.support import loopback

SEVERITY = {"debug": 5, "info": 9, "warning": 13, "error": 17, "critical": 21}


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list | tuple):
        result = AnyValue()
        result.array_value.values.extend(any_value(item) for item in value)
        return result
    if isinstance(value, dict):
        result = AnyValue()
        result.kvlist_value.values.extend(key_values(value))
        return result
    raise TypeError(f"no AnyValue for {value!r}")


def key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def record(
    event_name: str = "",
    attributes: dict[str, Any] | None = None,
    *,
    body: str | None = None,
    severity: str | None = None,
    time_ns: int | None = None,
    trace_id: bytes = b"",
    span_id: bytes = b"",
) -> LogRecord:
    result = LogRecord(
        time_unix_nano=time_ns or time.time_ns(),
        event_name=event_name,
        severity_number=SEVERITY.get(severity or "", 0),
        severity_text=(severity or "").upper(),
        trace_id=trace_id,
        span_id=span_id,
    )
    result.attributes.extend(key_values(attributes or {}))
    if body is not None:
        result.body.CopyFrom(any_value(body))
    return result


def logs_request(records: list[LogRecord], resource: dict[str, Any] | None = None) -> bytes:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(
        key_values(resource or {"service.name": "tests", "host.name": "test-host", "process.pid": 4242})
    )
    resource_logs.scope_logs.add().log_records.extend(records)
    return request.SerializeToString()


def post_logs(
    base_url: str, records: list[LogRecord], headers: dict[str, str] | None = None, **kwargs: Any
) -> httpx.Response:
    response = loopback.post(
        base_url + "/v1/logs",
        content=logs_request(records, **kwargs),
        headers={"content-type": "application/x-protobuf", **(headers or {})},
        timeout=10.0,
    )
    response.raise_for_status()
    return response


# OTLP/JSON (the protobuf JSON mapping) spells the doubles JSON has no numbers for as strings.
_SPECIAL_DOUBLES = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def json_value(value: Any) -> dict[str, Any]:
    """The OTLP/JSON AnyValue of a Python value; ints go as decimal strings, as 64-bit ints do."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": _SPECIAL_DOUBLES.get(repr(value), value)}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [json_value(item) for item in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": json_key_values(value)}}
    raise TypeError(f"no AnyValue for {value!r}")


def json_key_values(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": json_value(value)} for key, value in attributes.items()]


def json_record(event_name: str = "", attributes: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """An OTLP/JSON log record; ``fields`` are further LogRecord fields in their JSON spelling."""
    return {
        "timeUnixNano": str(time.time_ns()),
        "eventName": event_name,
        "attributes": json_key_values(attributes or {}),
        **fields,
    }


def json_logs_request(records: list[dict[str, Any]], resource: dict[str, Any] | None = None) -> bytes:
    resource = resource or {"service.name": "tests", "host.name": "test-host", "process.pid": 4242}
    body = {
        "resourceLogs": [
            {"resource": {"attributes": json_key_values(resource)}, "scopeLogs": [{"logRecords": records}]}
        ]
    }
    return json.dumps(body).encode()


class JobEmitter:
    """Emits one job's records by the conventions, numbering seq as a real emitter would."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._seq = itertools.count(1)

    def _record(self, event_name: str, attributes: dict[str, Any], **kwargs: Any) -> LogRecord:
        base = {"jobpulse.job.id": self.job_id, "jobpulse.seq": next(self._seq)}
        base.update({key: value for key, value in attributes.items() if value is not None})
        return record(event_name, base, **kwargs)

    def start(
        self, name: str = "test-job", job_type: str | None = None, total: int | None = None, **extra: Any
    ) -> LogRecord:
        return self._record(
            "jobpulse.job.start",
            {
                "jobpulse.job.name": name,
                "jobpulse.job.type": job_type,
                "jobpulse.job.total": total,
                "jobpulse.job.processed": 0,
                **extra,
            },
        )

    def progress(self, processed: int, failed: int = 0, total: int | None = None, step: str | None = None) -> LogRecord:
        return self._record(
            "jobpulse.job.progress",
            {
                "jobpulse.job.processed": processed,
                "jobpulse.job.failed": failed,
                "jobpulse.job.total": total,
                "jobpulse.job.step": step,
            },
        )

    def resources(self, rss_bytes: int, cpu_utilization: float = 0.5) -> LogRecord:
        return self._record(
            "jobpulse.job.resources",
            {"process.memory.usage": rss_bytes, "process.cpu.utilization": cpu_utilization},
        )

    def log(self, message: str, level: str = "info") -> LogRecord:
        return self._record("", {}, body=message, severity=level)

    def end(self, status: str = "completed", processed: int | None = None, **extra: Any) -> LogRecord:
        return self._record(
            "jobpulse.job.end",
            {"jobpulse.job.status": status, "jobpulse.job.processed": processed, **extra},
            severity="error" if status == "failed" else None,
        )
