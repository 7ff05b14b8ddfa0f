"""A small, real OTLP/HTTP receiver for tests: decodes protobuf exports into plain dicts.

    with OtlpCapture() as capture:
        run_something(env={"OTEL_EXPORTER_OTLP_ENDPOINT": capture.url})
        start = capture.wait_for(lambda c: c.events("jobpulse.job.start"))

It can also be told to fail requests (`fail_next`) to exercise retries.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

T = TypeVar("T")


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(pairs: list[KeyValue]) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


class OtlpCapture:
    """Threaded OTLP/HTTP receiver on 127.0.0.1; `logs` and `spans` hold what it received."""

    def __init__(self, port: int = 0) -> None:
        self.logs: list[dict[str, Any]] = []
        self.spans: list[dict[str, Any]] = []
        self.requests: list[tuple[str, int]] = []  # (path, status) of every request answered
        self._cond = threading.Condition()
        self._failures: list[int] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-capture", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OtlpCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` requests with `status` instead of accepting them."""
        with self._cond:
            self._failures.extend([status] * count)

    def events(self, name: str | None = None, job_id: str | None = None) -> list[dict[str, Any]]:
        """Log records with an event name (all, or those named `name`), optionally of one job."""
        with self._cond:
            return [
                record
                for record in self.logs
                if record["event_name"]
                and (name is None or record["event_name"] == name)
                and (job_id is None or record["attributes"].get("jobpulse.job.id") == job_id)
            ]

    def lines(self) -> list[dict[str, Any]]:
        """Log records without an event name: job log lines."""
        with self._cond:
            return [record for record in self.logs if not record["event_name"]]

    def wait_for(self, predicate: Callable[[OtlpCapture], T], timeout: float = 10.0) -> T:
        """Wait until `predicate(self)` is truthy (re-checked on every request received); return it."""
        with self._cond:
            value = self._cond.wait_for(lambda: predicate(self), timeout)
        if not value:
            raise AssertionError(f"capture did not satisfy {predicate} within {timeout} s")
        return value

    # -- receiving ------------------------------------------------------------------------------

    def _receive(self, path: str, body: bytes) -> tuple[int, bytes]:
        with self._cond:
            if self._failures:
                status = self._failures.pop(0)
                self.requests.append((path, status))
                return status, b'{"status_code": %d, "detail": "failing on request"}' % status
        if path == "/v1/logs":
            logs_request = ExportLogsServiceRequest.FromString(body)
            records, response = self._decode_logs(logs_request), ExportLogsServiceResponse()
            target = self.logs
        elif path == "/v1/traces":
            trace_request = ExportTraceServiceRequest.FromString(body)
            records, response = self._decode_spans(trace_request), ExportTraceServiceResponse()
            target = self.spans
        else:
            return 404, b'{"status_code": 404, "detail": "unknown path"}'
        with self._cond:
            target.extend(records)
            self.requests.append((path, 200))
            self._cond.notify_all()
        return 200, response.SerializeToString()

    @staticmethod
    def _decode_logs(request: ExportLogsServiceRequest) -> list[dict[str, Any]]:
        records = []
        for resource_logs in request.resource_logs:
            resource = attributes(resource_logs.resource.attributes)
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    records.append(
                        {
                            "event_name": record.event_name,
                            "attributes": attributes(record.attributes),
                            "severity_number": record.severity_number,
                            "severity_text": record.severity_text,
                            "body": any_value(record.body),
                            "trace_id": record.trace_id.hex(),
                            "span_id": record.span_id.hex(),
                            "time_unix_nano": record.time_unix_nano,
                            "resource": resource,
                            "scope": scope_logs.scope.name,
                        }
                    )
        return records

    @staticmethod
    def _decode_spans(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
        spans = []
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "attributes": attributes(span.attributes),
                            "status_code": span.status.code,
                            "events": [(event.name, attributes(event.attributes)) for event in span.events],
                            "resource": resource,
                        }
                    )
        return spans

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _read_body(self) -> bytes:
                if (self.headers.get("Transfer-Encoding") or "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length", 0)))
                # Node's OTLP exporters stream their bodies in chunks.
                body = b""
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return body

            def do_POST(self) -> None:
                body = self._read_body()
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                content_type = (self.headers.get("Content-Type") or "").split(";")[0]
                if content_type != "application/x-protobuf":
                    status, payload = 415, b'{"status_code": 415, "detail": "protobuf only"}'
                else:
                    status, payload = capture._receive(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf" if status == 200 else "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
