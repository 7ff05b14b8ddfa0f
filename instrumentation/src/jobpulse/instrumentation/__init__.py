"""Job-side instrumentation for jobpulse: watch ETL and batch jobs live.

Wrap a job in `track_job` and count its work::

    from jobpulse.instrumentation import track_job

    with track_job("nightly-orders-import", job_type="csv_import", steps=["load", "write"]) as job:
        with job.step("load"):
            rows = load()
        with job.step("write"):
            for row in job.iter(rows):
                write(row)

The job's lifecycle, progress, log lines and resource usage go as OpenTelemetry log records and
spans, over OTLP/HTTP, to the jobpulse sidecar (``http://127.0.0.1:4318`` unless the standard
``OTEL_EXPORTER_OTLP_*`` variables or `configure` say otherwise), following docs/conventions.md.
Prometheus metrics of the same jobs are in `registry`, for `serve_metrics` or `push_metrics`.

Nothing here waits on the network in the job's thread, and a missing sidecar costs one warning.
"""

from __future__ import annotations

from .config import configure
from .control import JobCancelled
from .job import Job, current_job
from .logging_handler import JobLogHandler
from .metrics import push_metrics, registry, serve_metrics
from .runtime import flush
from .tracking import JobTracker, track_job

__all__ = [
    "Job",
    "JobCancelled",
    "JobLogHandler",
    "JobTracker",
    "configure",
    "current_job",
    "flush",
    "push_metrics",
    "registry",
    "serve_metrics",
    "track_job",
]
