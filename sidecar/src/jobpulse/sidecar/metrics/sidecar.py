"""The sidecar's own metrics, read at scrape time from the counters its parts already keep.

Ingest, fold, feed and storage count what they do in plain integer attributes (an add each, no
metric objects on the hot path); this collector turns them into metric families when Prometheus asks.
Fold lag comes from :class:`LoopLagProbe`: ingest folds on the event loop's turn of the request, so how
long ready work waits for the loop is how far folding lags behind arrival.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from jobpulse.sidecar import __version__
from jobpulse.sidecar.api.failures import ServerErrors
from jobpulse.sidecar.feed.hub import FeedClient, FeedHub
from jobpulse.sidecar.history.writer import HistoryWriter
from jobpulse.sidecar.ingest.receiver import Ingestor
from jobpulse.sidecar.latency import Histogram
from jobpulse.sidecar.store import JobStore
from jobpulse.sidecar.tasks import BackgroundTasks


class LoopLagProbe:
    """Measures how late the event loop runs a timer: the delay work (and so each fold) waits for it."""

    def __init__(self, interval_s: float = 0.25, window: int = 40) -> None:
        self.interval_s = interval_s
        self._lags: deque[float] = deque(maxlen=window)
        self._tasks = BackgroundTasks()

    @property
    def lag_seconds(self) -> float:
        """The longest lag over the window (``interval_s`` x ``window``: 10 s by default)."""
        return max(self._lags, default=0.0)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval_s)
            self._lags.append(max(loop.time() - started - self.interval_s, 0.0))

    async def start(self) -> None:
        if not self._tasks.running:
            self._tasks.spawn(self._run(), "loop-lag-probe")

    async def stop(self) -> None:
        await self._tasks.cancel()

    @asynccontextmanager
    async def running(self, _app: Any = None) -> AsyncIterator[None]:
        """A Litestar lifespan: the probe runs while the app does."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()


class _DroppedFrames:
    """Frames dropped over all clients, monotonic although clients come and go."""

    def __init__(self) -> None:
        self._gone = 0
        self._last: dict[int, int] = {}

    def total(self, clients: list[FeedClient]) -> int:
        current = {client.id: client.frames_dropped for client in clients}
        for client_id, dropped in self._last.items():
            if client_id not in current:
                self._gone += dropped
        self._last = current
        return self._gone + sum(current.values())


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _labelled_counter(name: str, documentation: str, label: str, counts: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def _histogram(
    name: str, documentation: str, labels: list[str], histograms: list[tuple[list[str], Histogram]]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for values, histogram in histograms:
        family.add_metric(values, histogram.cumulative(), histogram.total)
    return family


class SidecarCollector(Collector):
    """Ingest, fold, live feed and storage figures of this sidecar."""

    def __init__(
        self,
        store: JobStore,
        ingestor: Ingestor,
        hub: FeedHub,
        writer: HistoryWriter | None,
        probe: LoopLagProbe,
        render_seconds: Any = None,
        errors: ServerErrors | None = None,
    ) -> None:
        self.store = store
        self.ingestor = ingestor
        self.hub = hub
        self.writer = writer
        self.probe = probe
        self.render_seconds = render_seconds
        self.errors = errors
        self._dropped = _DroppedFrames()

    def collect(self) -> Iterator[Any]:
        info = GaugeMetricFamily("jobpulse_sidecar_info", "The sidecar's version (value 1).", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield _gauge(
            "jobpulse_sidecar_jobs_in_memory", "Jobs held in memory (active and recently finished).", len(self.store)
        )

        stats = self.ingestor.stats
        requests = CounterMetricFamily(
            "jobpulse_sidecar_ingest_requests", "OTLP/HTTP export requests received.", labels=["outcome"]
        )
        requests.add_metric(["accepted"], stats.requests - stats.requests_rejected)
        requests.add_metric(["rejected"], stats.requests_rejected)
        yield requests
        records = CounterMetricFamily(
            "jobpulse_sidecar_ingest_records",
            "OTLP log records received, by outcome: applied (changed a job), unchanged (duplicate or late), "
            "ignored (no jobpulse.job.id), rejected (invalid).",
            labels=["outcome"],
        )
        unchanged = stats.records - stats.records_applied - stats.records_ignored - stats.records_rejected
        records.add_metric(["applied"], stats.records_applied)
        records.add_metric(["unchanged"], max(unchanged, 0))
        records.add_metric(["ignored"], stats.records_ignored)
        records.add_metric(["rejected"], stats.records_rejected)
        yield records
        yield _counter(
            "jobpulse_sidecar_ingest_bytes", "Bytes of OTLP request bodies received (decompressed).", stats.bytes
        )
        yield _counter("jobpulse_sidecar_ingest_spans", "OTLP spans received (counted, not stored).", stats.spans)
        yield _histogram(
            "jobpulse_sidecar_ingest_queue_seconds",
            "Time an OTLP export request waited, from its first bytes being read to its records being folded.",
            [],
            [([], stats.queue_time)],
        )

        store = self.store
        folded = CounterMetricFamily(
            "jobpulse_sidecar_fold_events",
            "Events folded into job state (the sidecar's own lost marks included), by result.",
            labels=["result"],
        )
        folded.add_metric(["applied"], store.events_applied)
        folded.add_metric(["unchanged"], store.events_unchanged)
        folded.add_metric(["late"], store.events_late)
        yield folded
        yield _gauge(
            "jobpulse_sidecar_fold_lag_seconds",
            "Longest wait of ready work for the event loop over the last 10 s: how far folding lags arrival.",
            self.probe.lag_seconds,
        )

        hub = self.hub
        clients = hub.clients
        yield _gauge("jobpulse_sidecar_feed_clients", "Connected live-feed (WebSocket) clients.", len(clients))
        yield _gauge(
            "jobpulse_sidecar_feed_queued_frames",
            "Frames waiting in live-feed client queues.",
            sum(len(client.queue) for client in clients),
        )
        yield _counter(
            "jobpulse_sidecar_feed_messages_published", "Live-feed messages published.", hub.messages_published
        )
        yield _counter(
            "jobpulse_sidecar_feed_frames_dropped",
            "Frames dropped from the queues of clients that fell behind (each is then resynced).",
            self._dropped.total(clients),
        )
        yield _labelled_counter(
            "jobpulse_sidecar_feed_resyncs",
            "Resync messages (fresh snapshots) sent to clients, by cause: backlog (queue full), lag (oldest "
            "queued frame too old), cursor (resumed from a cursor the replay ring no longer holds).",
            "cause",
            hub.resyncs,
        )
        yield _labelled_counter(
            "jobpulse_sidecar_feed_handshake_failures",
            "Live-feed connections that failed before their first frame, by reason.",
            "reason",
            hub.handshake_failures,
        )
        yield _histogram(
            "jobpulse_sidecar_feed_send_delay_seconds",
            "Delay from ingest to a client's socket taking the frame, by message type: one observation per "
            "frame and message type in it, for the oldest message of that type.",
            ["type"],
            [([message_type], histogram) for message_type, histogram in sorted(hub.send_delay.items())],
        )
        yield _counter(
            "jobpulse_sidecar_feed_clients_dropped",
            "Clients disconnected because their socket stopped accepting frames.",
            hub.clients_dropped,
        )

        writer = self.writer
        if writer is not None:
            wstats = writer.stats
            yield _gauge(
                "jobpulse_sidecar_storage_write_lag_seconds",
                "How long the oldest change not yet written to history storage has waited.",
                writer.lag_seconds,
            )
            yield _gauge(
                "jobpulse_sidecar_storage_pending_writes",
                "Job states and log lines waiting to be written to history storage.",
                writer.pending,
            )
            yield _counter("jobpulse_sidecar_storage_flushes", "Batches written to history storage.", wstats.flushes)
            yield _counter(
                "jobpulse_sidecar_storage_flush_failures", "Failed history storage writes (retried).", wstats.failures
            )
            yield _counter(
                "jobpulse_sidecar_storage_log_lines_dropped",
                "Log lines dropped because storage fell too far behind.",
                wstats.lines_dropped,
            )
            set_aside = CounterMetricFamily(
                "jobpulse_sidecar_storage_dead_letters",
                "Job states and log lines history storage refused for their data (a value it cannot hold), "
                "set aside in the dead_letters table instead of retried, by kind.",
                labels=["kind"],
            )
            for kind, count in wstats.dead_letters.items():
                set_aside.add_metric([kind], count)
            yield set_aside
            yield _gauge(
                "jobpulse_sidecar_storage_last_flush_duration_seconds",
                "Duration of the latest history storage write.",
                wstats.last_flush_seconds,
            )

        if self.errors is not None:
            failed = CounterMetricFamily(
                "jobpulse_sidecar_http_errors",
                "Requests and WebSocket connections whose handler raised an unhandled exception (answered 500, "
                "or closed with 4500/1011), by route template and method (WEBSOCKET for the live feed).",
                labels=["route", "method"],
            )
            for (route, method), count in sorted(self.errors.counts.items()):
                failed.add_metric([route, method], count)
            yield failed

        if self.render_seconds is not None:
            yield _gauge(
                "jobpulse_sidecar_metrics_render_seconds",
                "Time the previous /metrics response took to render.",
                self.render_seconds(),
            )
