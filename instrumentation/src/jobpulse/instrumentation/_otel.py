"""The instrumentation's private OpenTelemetry pipeline.

The logs SDK still lives in underscore modules (``opentelemetry._logs``, ``opentelemetry.sdk._logs``);
this is the only module that imports them (the delivery processor takes their types from here), so
an upstream rename is a one-file change.

The providers here are private: the global Logger/TracerProvider stay whatever the application made
them, and an application's own OpenTelemetry setup never sees jobpulse records (nor the reverse).
Records and ended spans go to the processors they are given (the delivery processor), which export
them through the OTLP/HTTP exporters made here.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, attach, set_value
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import Span, Status, StatusCode

from jobpulse.conventions import DEFAULT_SIDECAR_URL, RESOURCE_HOST_NAME, RESOURCE_PROCESS_PID, RESOURCE_SERVICE_NAME

from .config import Settings
from .transport import FailFastSession

SCOPE_NAME = "jobpulse.instrumentation"

# A job must not wait on a sidecar that is not there; the OTel default (10 s) is for long-lived services.
DEFAULT_EXPORT_TIMEOUT_S = 2.0

# Loggers whose records from the delivery thread are ours to silence: an unreachable sidecar is
# reported once by the delivery processor, not as a storm of exporter errors.
_EXPORT_LOGGER_PREFIXES = ("opentelemetry.exporter", "urllib3", "requests")


def severity_number(levelno: int) -> SeverityNumber:
    """The OTLP severity for a `logging` level (first number of each OTLP range)."""
    for floor, number in (
        (logging.CRITICAL, SeverityNumber.FATAL),
        (logging.ERROR, SeverityNumber.ERROR),
        (logging.WARNING, SeverityNumber.WARN),
        (logging.INFO, SeverityNumber.INFO),
        (logging.DEBUG, SeverityNumber.DEBUG),
    ):
        if levelno >= floor:
            return number
    return SeverityNumber.TRACE


def build_resource(settings: Settings) -> Resource:
    """Where jobs run: OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over what we detect."""
    return _resource(settings.service_name, os.getpid())


def service_name(settings: Settings) -> str:
    """The ``service.name`` jobs of this process report under."""
    return str(build_resource(settings).attributes[RESOURCE_SERVICE_NAME])


# Cached: Resource.create() runs its detectors in a thread pool, which refuses work once the
# interpreter is shutting down, and an exit-time push still needs the name.
@functools.cache
def _resource(explicit_service_name: str | None, pid: int) -> Resource:
    detected = Resource({RESOURCE_HOST_NAME: socket.gethostname(), RESOURCE_PROCESS_PID: pid})
    resource = detected.merge(Resource.create())
    if explicit_service_name:
        return resource.merge(Resource({RESOURCE_SERVICE_NAME: explicit_service_name}))
    script = _script_name()
    if script and str(resource.attributes.get(RESOURCE_SERVICE_NAME, "")).startswith("unknown_service"):
        return resource.merge(Resource({RESOURCE_SERVICE_NAME: script}))
    return resource


def _script_name() -> str | None:
    argv0 = sys.argv[0] if sys.argv else ""
    if not argv0 or argv0.startswith("-"):  # python -c / interactive
        return None
    path = Path(argv0)
    # `python -m package` runs package/__main__.py: the package is the better name.
    return path.parent.name if path.stem == "__main__" else path.stem


def suppress_instrumentation() -> None:
    """Keep an application's auto-instrumentation (e.g. of requests) from tracing our own exports.

    Called once in each of the job side's threads; the context is per thread, so nothing else is affected.
    """
    attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))


def silence_exporter_logs_in(thread_ident: int) -> None:
    """Drop exporter log records emitted by the given thread; the application's own exports still log."""
    record_filter = _ThreadFilter(thread_ident)
    names = [name for name in logging.root.manager.loggerDict if name.startswith(_EXPORT_LOGGER_PREFIXES)]
    for name in names:
        logging.getLogger(name).addFilter(record_filter)


class _ThreadFilter(logging.Filter):
    def __init__(self, thread_ident: int) -> None:
        super().__init__()
        self._thread_ident = thread_ident

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self._thread_ident


class Exporters:
    """The OTLP/HTTP exporters of the job side's records and spans, and the endpoint they send to."""

    def __init__(self, settings: Settings) -> None:
        logs_url = _explicit_url(settings, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, "v1/logs")
        traces_url = _explicit_url(settings, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "v1/traces")
        headers = dict(settings.headers) or None
        self._logs = OTLPLogExporter(
            endpoint=logs_url,
            headers=headers,
            timeout=_timeout(OTEL_EXPORTER_OTLP_LOGS_TIMEOUT),
            session=FailFastSession(),
        )
        self._spans = OTLPSpanExporter(
            endpoint=traces_url,
            headers=headers,
            timeout=_timeout(OTEL_EXPORTER_OTLP_TRACES_TIMEOUT),
            session=FailFastSession(),
        )
        self.endpoint = logs_url or _url_from_environment(OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, "v1/logs")

    def export_logs(self, records: Sequence[ReadableLogRecord]) -> bool:
        """Send records in one request; True when the receiver took them."""
        return self._logs.export(records) is LogRecordExportResult.SUCCESS

    def export_spans(self, spans: Sequence[ReadableSpan]) -> bool:
        """Send spans in one request; True when the receiver took them."""
        return self._spans.export(spans) is SpanExportResult.SUCCESS


class Telemetry:
    """Private logger and tracer providers whose records and ended spans go to the given processors."""

    def __init__(self, settings: Settings, log_processor: LogRecordProcessor, span_processor: SpanProcessor) -> None:
        resource = build_resource(settings)
        self._logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        self._logger_provider.add_log_record_processor(log_processor)
        self._logger = self._logger_provider.get_logger(SCOPE_NAME)
        self._tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self._tracer_provider.add_span_processor(span_processor)
        self._tracer = self._tracer_provider.get_tracer(SCOPE_NAME)

    def emit(
        self,
        event_name: str | None,
        attributes: Mapping[str, Any],
        context: Context,
        *,
        levelno: int = logging.INFO,
        body: str | None = None,
        timestamp: int,
    ) -> None:
        """Emit one log record; `context` holds the span whose trace/span ids the record carries."""
        self._logger.emit(
            timestamp=timestamp,
            observed_timestamp=timestamp,
            context=context,
            severity_number=severity_number(levelno),
            severity_text=logging.getLevelName(levelno),
            body=body,
            attributes=attributes,
            event_name=event_name,
        )

    def start_span(self, name: str, parent: Context, attributes: Mapping[str, Any]) -> tuple[Span, Context]:
        """Start a span under `parent` (an empty Context makes a root) and return it with its context."""
        span = self._tracer.start_span(name, context=parent, attributes=attributes)
        return span, trace.set_span_in_context(span, Context())


def readable(log_record: ReadWriteLogRecord) -> ReadableLogRecord:
    """The exportable form of an emitted record, without the context it was emitted in.

    Its trace and span ids are already in the record; the context would only keep spans alive while
    the record waits in a buffer.
    """
    record = log_record.log_record
    record.context = None
    return ReadableLogRecord(
        log_record=record,
        resource=log_record.resource,
        instrumentation_scope=log_record.instrumentation_scope,
        limits=log_record.limits,
    )


def end_span(span: Span, error: BaseException | None = None) -> None:
    """End a span, marking it ERROR with the exception recorded when `error` is given."""
    if error is not None:
        span.record_exception(error, escaped=True)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.end()


def _explicit_url(settings: Settings, signal_env: str, path: str) -> str | None:
    """The URL to hand the exporter, or None to let it read the standard environment itself."""
    if settings.endpoint:
        return f"{settings.endpoint.rstrip('/')}/{path}"
    if os.environ.get(signal_env) or os.environ.get(OTEL_EXPORTER_OTLP_ENDPOINT):
        return None
    return f"{DEFAULT_SIDECAR_URL}/{path}"


def _url_from_environment(signal_env: str, path: str) -> str:
    # Same precedence as the exporter; only used to name the endpoint in messages.
    if url := os.environ.get(signal_env):
        return url
    return f"{os.environ[OTEL_EXPORTER_OTLP_ENDPOINT].rstrip('/')}/{path}"


def _timeout(signal_env: str) -> float | None:
    if os.environ.get(signal_env) or os.environ.get(OTEL_EXPORTER_OTLP_TIMEOUT):
        return None
    return DEFAULT_EXPORT_TIMEOUT_S
