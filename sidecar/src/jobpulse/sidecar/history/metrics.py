"""HistoryCollector: how history storage keeps up, read from the writer's counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from jobpulse.sidecar.history.writer import HistoryWriter
from jobpulse.sidecar.metrics.families import counter, gauge


class HistoryCollector(Collector):
    """``jobpulse_sidecar_storage_*``: write lag, pending writes, flushes, failures, drops, dead letters."""

    def __init__(self, writer: HistoryWriter) -> None:
        self.writer = writer

    def collect(self) -> Iterator[Metric]:
        writer = self.writer
        stats = writer.stats
        yield gauge(
            "jobpulse_sidecar_storage_write_lag_seconds",
            "How long the oldest change not yet written to history storage has waited.",
            writer.lag_seconds,
        )
        yield gauge(
            "jobpulse_sidecar_storage_pending_writes",
            "Job states and log lines waiting to be written to history storage.",
            writer.pending,
        )
        yield counter("jobpulse_sidecar_storage_flushes", "Batches written to history storage.", stats.flushes)
        yield counter(
            "jobpulse_sidecar_storage_flush_failures", "Failed history storage writes (retried).", stats.failures
        )
        yield counter(
            "jobpulse_sidecar_storage_log_lines_dropped",
            "Log lines dropped because storage fell too far behind.",
            stats.lines_dropped,
        )
        set_aside = CounterMetricFamily(
            "jobpulse_sidecar_storage_dead_letters",
            "Job states and log lines history storage refused for their data (a value it cannot hold), "
            "set aside in the dead_letters table instead of retried, by kind.",
            labels=["kind"],
        )
        for kind, count in stats.dead_letters.items():
            set_aside.add_metric([kind], count)
        yield set_aside
        yield gauge(
            "jobpulse_sidecar_storage_last_flush_duration_seconds",
            "Duration of the latest history storage write.",
            stats.last_flush_seconds,
        )
