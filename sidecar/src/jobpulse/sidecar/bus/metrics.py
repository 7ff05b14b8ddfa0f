"""BusCollector: ``jobpulse_sidecar_bus_*``, read from the bus's counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from jobpulse.sidecar.bus.redis_bus import RedisBus
from jobpulse.sidecar.metrics.families import counter, gauge


class BusCollector(Collector):
    """Entries and events written and read, failures, reconnects, lost stretches and the reader's lag."""

    def __init__(self, bus: RedisBus) -> None:
        self.bus = bus

    def collect(self) -> Iterator[Metric]:
        stats = self.bus.stats
        entries = CounterMetricFamily(
            "jobpulse_sidecar_bus_entries",
            "Stream entries (one per OTLP request) this replica wrote, and read from every replica.",
            labels=["direction"],
        )
        entries.add_metric(["written"], stats.entries_written)
        entries.add_metric(["read"], stats.entries_read)
        yield entries
        events = CounterMetricFamily(
            "jobpulse_sidecar_bus_events", "Job events in the entries written and read.", labels=["direction"]
        )
        events.add_metric(["written"], stats.events_written)
        events.add_metric(["read"], stats.events_read)
        yield events
        yield counter(
            "jobpulse_sidecar_bus_write_failures",
            "Requests answered 503 because the stream did not take their events.",
            stats.write_failures,
        )
        yield counter(
            "jobpulse_sidecar_bus_invalid_entries",
            "Stream entries skipped: not written by jobpulse.",
            stats.entries_invalid,
        )
        yield counter(
            "jobpulse_sidecar_bus_reconnects", "Times the reader lost Redis and tried again.", stats.reconnects
        )
        yield counter(
            "jobpulse_sidecar_bus_gaps",
            "Times entries may have been lost to this replica (stream trimmed past it, or gone); feed clients"
            " were resynced.",
            stats.gaps,
        )
        yield gauge(
            "jobpulse_sidecar_bus_lag_seconds",
            "How long ago the newest entry this replica folded was added (0 when it has read everything).",
            stats.lag_s,
        )
        yield gauge(
            "jobpulse_sidecar_bus_caught_up",
            "1 once this replica has read the stream up to where it began.",
            float(self.bus.caught_up),
        )
