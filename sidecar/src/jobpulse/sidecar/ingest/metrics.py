"""IngestCollector: what the OTLP receiver took in, read from its counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from jobpulse.sidecar.ingest.receiver import Ingestor
from jobpulse.sidecar.metrics.families import counter


class IngestCollector(Collector):
    """``jobpulse_sidecar_ingest_*``: requests, records by outcome, bytes and spans."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    def collect(self) -> Iterator[Metric]:
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
        yield counter(
            "jobpulse_sidecar_ingest_bytes", "Bytes of OTLP request bodies received (decompressed).", stats.bytes
        )
        yield counter("jobpulse_sidecar_ingest_spans", "OTLP spans received (counted, not stored).", stats.spans)
