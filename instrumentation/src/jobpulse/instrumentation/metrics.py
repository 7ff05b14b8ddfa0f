"""Prometheus metrics of the jobs run by this process, in a registry of their own.

Counters move when the pulse syncs them (every delivery tick and at job end), never per
`advance()`, so the hot path stays an integer add.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, push_to_gateway, start_http_server

from . import config
from ._otel import service_name

registry = CollectorRegistry()
"""The registry holding every jobpulse metric of this process (not prometheus_client's global one)."""

_JOB = ("job_name", "job_type")

# Batch steps and jobs run for seconds to hours; the client's default buckets stop at 10 s.
_STEP_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, float("inf"))
_JOB_BUCKETS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, float("inf"))

records_processed = Counter(
    "jobpulse_job_records_processed", "Records handled by jobs, failed ones included.", _JOB, registry=registry
)
records_failed = Counter("jobpulse_job_records_failed", "Records that failed.", _JOB, registry=registry)
step_duration = Histogram(
    "jobpulse_job_step_duration_seconds",
    "Duration of job steps.",
    ("job_name", "step"),
    buckets=_STEP_BUCKETS,
    registry=registry,
)
job_duration = Histogram(
    "jobpulse_job_duration_seconds",
    "Duration of job runs, by final status.",
    (*_JOB, "status"),
    buckets=_JOB_BUCKETS,
    registry=registry,
)
last_end = Gauge(
    "jobpulse_job_last_end_timestamp_seconds",
    "Unix time at which a job last ended, by final status.",
    (*_JOB, "status"),
    registry=registry,
)
jobs_running = Gauge("jobpulse_jobs_running", "Jobs running in this process.", _JOB, registry=registry)


class JobCounters:
    """One job's share of the records counters, moved by what its counts grew since the last sync."""

    def __init__(self, name: str, job_type: str) -> None:
        self._processed = records_processed.labels(name, job_type)
        self._failed = records_failed.labels(name, job_type)
        self._counted_processed = 0
        self._counted_failed = 0

    def sync(self, processed: int, failed: int) -> None:
        if processed != self._counted_processed:
            self._processed.inc(processed - self._counted_processed)
            self._counted_processed = processed
        if failed != self._counted_failed:
            self._failed.inc(failed - self._counted_failed)
            self._counted_failed = failed


def job_started(name: str, job_type: str) -> None:
    jobs_running.labels(name, job_type).inc()


def job_ended(name: str, job_type: str, status: str, duration_s: float) -> None:
    jobs_running.labels(name, job_type).dec()
    job_duration.labels(name, job_type, status).observe(duration_s)
    last_end.labels(name, job_type, status).set(time.time())


def serve_metrics(port: int, addr: str = "127.0.0.1") -> WSGIServer:
    """Serve the jobpulse registry at ``http://addr:port/metrics`` for Prometheus to scrape.

    Meant for long-lived workers; batch jobs that exit before a scrape should use `push_metrics`.
    Port 0 picks a free port: read it from the returned server's ``server_port``. Call its
    ``shutdown()`` to stop serving.
    """
    server, _thread = start_http_server(port, addr, registry=registry)
    return server


def push_metrics(
    gateway_url: str,
    *,
    job: str | None = None,
    grouping_key: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> None:
    """Push the jobpulse registry to a Prometheus Pushgateway (replacing the group's previous push).

    Args:
        gateway_url: e.g. ``http://pushgateway:9091``.
        job: the Pushgateway ``job`` label; default the process's ``service.name``.
        grouping_key: further labels that identify the group, e.g. ``{"instance": host}``.
        timeout: seconds before the request gives up.

    ``configure(pushgateway_url=...)`` (or ``JOBPULSE_PUSHGATEWAY_URL``) pushes after every job instead.
    """
    push_to_gateway(
        gateway_url,
        job=job or service_name(config.current()),
        registry=registry,
        grouping_key=dict(grouping_key or {}),
        timeout=timeout,
    )
