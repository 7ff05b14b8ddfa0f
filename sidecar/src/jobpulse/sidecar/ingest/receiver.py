"""The OTLP/HTTP receiver: ``POST /v1/logs`` and ``POST /v1/traces``.

Log records become JobEvents folded into the JobStore on the request's own turn of the event loop:
decoding and folding are a few microseconds per record, cheaper than handing them to another task.
With replicas on a bus (jobpulse.sidecar.bus) a request's events are published instead, and the request
is answered once the bus holds them; every replica's bus reader folds them.
Spans are accepted and counted; jobs are linked to their traces through the trace ids on their log
records, and spans belong in a tracing backend (docs/architecture.md).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import ClientException, HTTPException, InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ASGIApp, Receive, Scope, Send

from jobpulse.conventions import ATTR_JOB_ID
from jobpulse.sidecar.api.errors import UnsupportedMediaTypeException
from jobpulse.sidecar.api.openapi import BINARY, OBJECT, success_content
from jobpulse.sidecar.auth.roles import INGEST, access
from jobpulse.sidecar.ingest import otlp_codec as codec
from jobpulse.sidecar.ingest.otlp_codec import BodyError
from jobpulse.sidecar.ingest.records import events_of_json, events_of_protobuf
from jobpulse.sidecar.latency import Histogram
from jobpulse.sidecar.model.events import KIND_RESOURCES, JobEvent
from jobpulse.sidecar.store import JobStore

if TYPE_CHECKING:
    from jobpulse.sidecar.settings import Settings

# How many rejection reasons one partial_success message quotes.
_QUOTED_ERRORS = 3

# The ASGI scope key under which the server stamps when a request's bytes were first read
# (``time.perf_counter()``): see jobpulse.sidecar.server.
ARRIVED_AT = "jobpulse.arrived_at"


class IngestStats:
    """Counters of what the receiver took in, for /metrics and the monitor endpoints."""

    def __init__(self) -> None:
        self.requests = 0
        self.requests_rejected = 0
        self.records = 0
        self.records_applied = 0
        self.records_ignored = 0
        self.records_rejected = 0
        self.spans = 0
        self.spans_of_jobs = 0
        self.bytes = 0
        # Seconds from a request's first bytes being read to its records being decoded and folded:
        # how long export requests queue behind each other (and behind the rest of the event loop).
        self.queue_time = Histogram()


Publish = Callable[[list[JobEvent]], Awaitable[None]]
"""Hands one request's events to the bus; returns once they are durable there (raises when it cannot)."""


class BusUnavailable(Exception):
    """The bus did not take a request's events: the request is answered 503, and the exporter retries."""


class Ingestor:
    """Decodes OTLP bodies and folds their records into the store, or publishes them (``publish``)."""

    def __init__(
        self,
        store: JobStore,
        max_request_bytes: int,
        clock_ns: Callable[[], int] = time.time_ns,
        publish: Publish | None = None,
    ):
        self.store = store
        self.publish = publish
        self.max_request_bytes = max_request_bytes
        # False: resource samples still count as heartbeats, but their figures are not kept.
        self.collect_resources = True
        self.clock_ns = clock_ns
        self.stats = IngestStats()

    def reconfigure(self, settings: Settings) -> None:
        """New limits apply to the next request."""
        self.max_request_bytes = settings.max_request_bytes
        self.collect_resources = settings.metrics_collection_enabled

    def ingest_logs(self, kind: str, body: bytes, batch: list[JobEvent] | None = None) -> tuple[int, str]:
        """Fold the records of a logs request, or append their events to ``batch`` when one is given;
        return (rejected count, partial-success message)."""
        # Decoded in full before anything is applied: a body that turns out bad halfway (a value
        # nested too deep) is a 400 that changed nothing.
        received_ns = self.clock_ns()
        decode = events_of_json if kind == codec.JSON else events_of_protobuf
        outcomes = decode(body, received_ns)
        stats = self.stats
        apply = self.store.apply if batch is None else batch.append
        rejected = 0
        errors: list[str] = []
        count = 0
        for count, outcome in enumerate(outcomes, 1):
            if type(outcome) is not JobEvent:
                if outcome is None:
                    stats.records_ignored += 1
                else:
                    rejected += 1
                    if len(errors) < _QUOTED_ERRORS:
                        errors.append(f"record {count - 1}: {outcome}")
                continue
            event = outcome
            if event.kind == KIND_RESOURCES and not self.collect_resources:
                event = _without_figures(event)
            if apply(event) is not None:
                stats.records_applied += 1
        stats.records += count
        stats.records_rejected += rejected
        message = ""
        if rejected:
            message = f"{rejected} of {count} log records rejected: " + "; ".join(errors)
        return rejected, message

    def ingest_spans(self, kind: str, body: bytes) -> None:
        spans = list(codec.iter_spans_json(body) if kind == codec.JSON else codec.iter_spans_protobuf(body))
        for span in spans:
            self.stats.spans += 1
            if ATTR_JOB_ID in span.attributes:
                self.stats.spans_of_jobs += 1


def _without_figures(event: JobEvent) -> JobEvent:
    return msgspec.structs.replace(
        event, rss_bytes=None, vms_bytes=None, cpu_utilization=None, threads=None, open_fds=None
    )


_BODY_HEADERS = frozenset({b"content-length", b"content-type", b"content-encoding"})


def _body_headers(scope: Scope) -> tuple[str | None, str | None, str | None]:
    """Content-Length, Content-Type and Content-Encoding of a request, None when absent.

    Read from the ASGI scope in one pass: ``Request.headers`` builds a Headers object, a noticeable
    share of a one-record request. ASGI servers give header names in lower case; the first of a repeated
    header counts, as with ``Headers.get``.
    """
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _BODY_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found.get(b"content-length"), found.get(b"content-type"), found.get(b"content-encoding")


async def _read_body(request: Request, announced: str | None, limit: int) -> bytes:
    # From the ASGI messages themselves: Request.stream() is an async generator with checks of its
    # own, a noticeable share of a one-record request.
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise BodyError(413, f"request body of {announced} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InternalServerException("client disconnected prematurely")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    request.is_connected = False
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# What an export is answered with: an OTLP Export*ServiceResponse, in the request's encoding.
_EXPORT_RESPONSE = success_content({"application/x-protobuf": BINARY, "application/json": OBJECT})
_BODY_ERRORS = [ClientException, RequestEntityTooLarge, UnsupportedMediaTypeException]


def otlp_controller(ingestor: Ingestor) -> type[Controller]:
    """The OTLP/HTTP export routes, ingesting into ``ingestor``."""

    class OtlpController(Controller):
        """OTLP/HTTP export endpoints (protobuf or JSON, optionally gzip)."""

        path = "/v1"
        tags = ["otlp"]
        opt = access(INGEST)
        request_max_body_size = None

        # The ingestor is bound here rather than resolved by dependency injection: these are the hottest
        # routes, and resolving a dependency costs more than the handler's own work for a small request.
        @post(
            "/logs",
            status_code=200,
            summary="Receive OTLP log records (job events and log lines)",
            operation_class=_EXPORT_RESPONSE,
            raises=_BODY_ERRORS,
        )
        async def export_logs(self, request: Request) -> ASGIApp:
            return await _export(ingestor, request, _ingest_logs)

        @post(
            "/traces",
            status_code=200,
            summary="Receive OTLP spans",
            operation_class=_EXPORT_RESPONSE,
            raises=_BODY_ERRORS,
        )
        async def export_traces(self, request: Request) -> ASGIApp:
            return await _export(ingestor, request, _ingest_spans)

    return OtlpController


async def _export(
    ingestor: Ingestor, request: Request, ingest: Callable[[Ingestor, str, bytes], Awaitable[bytes]]
) -> ASGIApp:
    """Read, decode and ingest one export request; any bad body is a counted rejection with its 4xx."""
    ingestor.stats.requests += 1
    try:
        length, media, encoding = _body_headers(request.scope)
        raw = await _read_body(request, length, ingestor.max_request_bytes)
        kind = codec.media_type(media)
        body = codec.decompress(raw, encoding, ingestor.max_request_bytes)
        ingestor.stats.bytes += len(body)
        arrived = request.scope.get(ARRIVED_AT)  # type: ignore[call-overload]
        if arrived is not None:
            ingestor.stats.queue_time.observe(time.perf_counter() - arrived)
        return _Answer(await ingest(ingestor, kind, body), kind)
    except BodyError as error:
        ingestor.stats.requests_rejected += 1
        raise HTTPException(status_code=error.status_code, detail=error.detail) from None
    except BusUnavailable as error:
        # 503 is one of the statuses OTLP exporters retry: the events are sent again, to this replica
        # or another.
        raise HTTPException(status_code=503, detail=str(error)) from None


class _Answer:
    """The 200 answering an export, as the ASGI app the handler returns: Litestar sends it as it is
    (its hooks, such as the security headers, still apply), without building a Response and then an
    ASGIResponse from it, which cost more than a one-record request's ingest."""

    __slots__ = ("body", "media_type")

    def __init__(self, body: bytes, media_type: str) -> None:
        self.body = body
        self.media_type = media_type.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", self.media_type), (b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


async def _ingest_logs(ingestor: Ingestor, kind: str, body: bytes) -> bytes:
    if ingestor.publish is None:
        rejected, message = ingestor.ingest_logs(kind, body)
    else:
        batch: list[JobEvent] = []
        rejected, message = ingestor.ingest_logs(kind, body, batch)
        if batch:
            await ingestor.publish(batch)
    return codec.logs_response(kind, rejected, message)


async def _ingest_spans(ingestor: Ingestor, kind: str, body: bytes) -> bytes:
    ingestor.ingest_spans(kind, body)
    return codec.trace_response(kind, 0, "")
