"""Counters and histograms over finished jobs, kept by a JobStore listener.

The listener returns after three attribute checks for almost every event; it does real work once when
a job starts (its start event is folded), once when it ends (its first terminal state) and, for a job
that was queued, once when it is announced and once when its wait is known. So the cost is per job,
not per event, and the values are monotonic since the sidecar started: a finished job that is
later evicted from memory still counts. Jobs restored from history at start-up are not announced to
listeners and so are not counted again.

Duration and failure observations carry the job's trace id as an OpenMetrics exemplar, so Grafana can
jump from a slow or failed run in a histogram to its trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from jobpulse.sidecar.metrics.labels import LabelBudget
from jobpulse.sidecar.model import figures
from jobpulse.sidecar.model.state import CANCELLED, COMPLETED, FAILED, JobState
from jobpulse.sidecar.store import JobChange

FINAL_STATUSES = (COMPLETED, FAILED, CANCELLED)

# Batch jobs and their steps run for seconds to hours (the same buckets as the job-side metrics).
JOB_BUCKETS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, float("inf"))
STEP_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, float("inf"))
# Queue waits: from a worker picking a job up at once to a backlog of a day.
WAIT_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 86400, float("inf"))

_JOB = ("job_name", "job_type")


class FinishedJobMetrics:
    """Job starts and ends, counted and timed as they happen (once per job)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        budget: LabelBudget,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.budget = budget
        self.clock_ns = clock_ns
        self.known: set[tuple[str, str]] = set()
        """(job_name, job_type) label pairs seen so far: jobs-by-status reports zeros for them."""
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}

        self.started = Counter(
            "jobpulse_jobs_started", "Jobs whose start event the sidecar received.", _JOB, registry=registry
        )
        self.finished = Counter(
            "jobpulse_jobs_finished",
            "Jobs that ended, by final status (completed, failed, cancelled).",
            (*_JOB, "status"),
            registry=registry,
        )
        self.failures = Counter(
            "jobpulse_jobs_failures",
            "Jobs that ended as failed, by the type of the exception that failed them.",
            (*_JOB, "exception_type"),
            registry=registry,
        )
        self.records_processed = Counter(
            "jobpulse_jobs_records_processed",
            "Records handled by finished jobs (failed records included), counted when each job ends.",
            _JOB,
            registry=registry,
        )
        self.records_failed = Counter(
            "jobpulse_jobs_records_failed",
            "Records that failed in finished jobs, counted when each job ends.",
            _JOB,
            registry=registry,
        )
        self.duration = Histogram(
            "jobpulse_jobs_duration_seconds",
            "Execution time of finished jobs, by final status; exemplars carry the job's trace_id.",
            (*_JOB, "status"),
            buckets=JOB_BUCKETS,
            registry=registry,
        )
        self.step_duration = Histogram(
            "jobpulse_jobs_step_duration_seconds",
            "Duration of the steps of finished jobs (a step run several times counts its total).",
            ("job_name", "step"),
            buckets=STEP_BUCKETS,
            registry=registry,
        )
        self.last_step_duration = Gauge(
            "jobpulse_jobs_last_step_duration_seconds",
            "Duration of each step in the most recent finished run of the job.",
            ("job_name", "step"),
            registry=registry,
        )
        self.last_finished = Gauge(
            "jobpulse_jobs_last_finished_timestamp_seconds",
            "When a job of this name last ended with this status (Unix time, sidecar clock).",
            (*_JOB, "status"),
            registry=registry,
        )

        self.wait = Histogram(
            "jobpulse_jobs_wait_seconds",
            "How long queued jobs waited before they started (or ended without starting), by queue.",
            (*_JOB, "queue"),
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.last_failure = Gauge(
            "jobpulse_jobs_last_failure_timestamp_seconds",
            "When a job of this name last failed with this exception type (Unix time, sidecar clock).",
            (*_JOB, "exception_type"),
            registry=registry,
        )

    def labels_of(self, state: JobState) -> tuple[str, str]:
        name = self.budget.name(state.name)
        return name, self.budget.job_type(name, state.job_type)

    def on_change(self, change: JobChange) -> None:
        """JobStore listener: act on a job's start and on its end, ignore everything in between."""
        old, new = change.old, change.new
        if new.start_seq and (old is None or not old.start_seq):
            self._started(new)
        if new.is_terminal and (old is None or not old.is_terminal):
            self._ended(new)
        if new.queued_seq:
            self._queued(old, new)

    def _child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        # prometheus_client validates and locks on every labels() call; a job's end touches a dozen
        # children. Label values are budgeted, so this cache is bounded like the series themselves.
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _introduce(self, name: str, job_type: str) -> None:
        # Zero-valued children make increase() and rate() see a job's first end, not only its second.
        self.known.add((name, job_type))
        self._child(self.started, name, job_type)
        self._child(self.records_processed, name, job_type)
        self._child(self.records_failed, name, job_type)
        for status in FINAL_STATUSES:
            self._child(self.finished, name, job_type, status)
        for status in (COMPLETED, FAILED):
            self._child(self.duration, name, job_type, status)

    def _started(self, state: JobState) -> None:
        labels = self.labels_of(state)
        if labels not in self.known:
            self._introduce(*labels)
        self._child(self.started, *labels).inc()

    def _queued(self, old: JobState | None, new: JobState) -> None:
        # The wait is known once both the queued and the start (or end) events are in, in either order.
        if old is not None and old.queued_seq and figures.waited_s(old) is not None:
            return
        name, job_type = self.labels_of(new)
        child = self._child(self.wait, name, job_type, self.budget.within(name, "queue", new.queue))
        waited = figures.waited_s(new)
        if waited is not None:
            child.observe(waited)

    def _ended(self, state: JobState) -> None:
        name, job_type = labels = self.labels_of(state)
        if labels not in self.known:
            self._introduce(*labels)
        status = state.status
        now_ns = self.clock_ns()
        exemplar = {"trace_id": state.trace_id} if state.trace_id else None
        self._child(self.finished, name, job_type, status).inc(exemplar=exemplar)
        self._child(self.last_finished, name, job_type, status).set(now_ns / 1e9)
        if state.processed:
            self._child(self.records_processed, *labels).inc(state.processed)
        if state.failed:
            self._child(self.records_failed, *labels).inc(state.failed)
        if status == FAILED:
            error_type = state.error.type if state.error else None
            exception_type = self.budget.within(name, "exception_type", error_type)
            self._child(self.failures, name, job_type, exception_type).inc(exemplar=exemplar)
            self._child(self.last_failure, name, job_type, exception_type).set(now_ns / 1e9)
        duration = figures.execution_time_s(state, now_ns)
        if duration is not None:
            self._child(self.duration, name, job_type, status).observe(duration, exemplar=exemplar)
        for timing in state.steps:
            if not timing.ends:
                continue
            step = self.budget.within(name, "step", timing.name)
            seconds = timing.duration_ns / 1e9
            self._child(self.step_duration, name, step).observe(seconds)
            self._child(self.last_step_duration, name, step).set(seconds)
