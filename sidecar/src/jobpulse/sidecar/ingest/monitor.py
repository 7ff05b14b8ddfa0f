"""``/api/monitor/ingest``: what the OTLP receiver took in since start."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency

from jobpulse.sidecar.auth.roles import VIEWER, access
from jobpulse.sidecar.ingest.receiver import Ingestor
from jobpulse.sidecar.store import JobStore


class IngestCounters(msgspec.Struct):
    """What the OTLP receiver took in since start."""

    requests: int
    requests_rejected: int
    records: int
    records_applied: int
    records_ignored: int
    records_rejected: int
    spans: int
    spans_of_jobs: int
    jobs_in_memory: int


class IngestMonitorController(Controller):
    """The receiver's counters."""

    path = "/api/monitor"
    tags = ["monitor"]
    opt = access(VIEWER)

    @get("/ingest", summary="OTLP receiver counters")
    async def ingest(self, ingestor: NamedDependency[Ingestor], store: NamedDependency[JobStore]) -> IngestCounters:
        stats = ingestor.stats
        return IngestCounters(
            requests=stats.requests,
            requests_rejected=stats.requests_rejected,
            records=stats.records,
            records_applied=stats.records_applied,
            records_ignored=stats.records_ignored,
            records_rejected=stats.records_rejected,
            spans=stats.spans,
            spans_of_jobs=stats.spans_of_jobs,
            jobs_in_memory=len(store),
        )
