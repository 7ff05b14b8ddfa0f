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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import configure
    from .control import JobCancelled
    from .job import Job, current_job
    from .logging_handler import JobLogHandler
    from .metrics import push_metrics, registry, serve_metrics
    from .runtime import flush
    from .tracking import JobTracker, track_job

# Loaded on first use: the sidecar imports `jobpulse.instrumentation.conventions`, which runs this
# module, and must not pay for (or start the exit hooks of) the job runtime and the OTel SDK.
_SUBMODULE_OF = {
    "Job": "job",
    "JobCancelled": "control",
    "JobLogHandler": "logging_handler",
    "JobTracker": "tracking",
    "configure": "config",
    "current_job": "job",
    "flush": "runtime",
    "push_metrics": "metrics",
    "registry": "metrics",
    "serve_metrics": "metrics",
    "track_job": "tracking",
}

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


def __getattr__(name: str) -> Any:
    submodule = _SUBMODULE_OF.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{submodule}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
