"""The pulse of the running jobs: coalesced progress, resource samples, Prometheus counters.

`advance()` only adds to an integer; the delivery thread drives this module every tick, ahead of
exporting. A job whose counts or step changed since it last reported gets one progress record with
its current counts, so a tight loop of a million `advance()` calls costs a few dozen records. Every
`resources_interval` each job gets a resources record (its heartbeat), and a new job one at once.
"""

from __future__ import annotations

import logging
import threading
import time

from . import metrics
from .config import Settings
from .recorder import JobRecorder, Snapshot
from .resources import ResourceSampler, Sampler

log = logging.getLogger("jobpulse.instrumentation")

PUSH_TIMEOUT_S = 2.0


class _Running:
    """What the pulse remembers about a running job."""

    def __init__(self, recorder: JobRecorder, counters: metrics.JobCounters, sampler: Sampler | None) -> None:
        self.recorder = recorder
        self.counters = counters
        self.sampler = sampler  # None: the process's sample, shared by its jobs
        # What the start record already says.
        self.reported: Snapshot | None = recorder.snapshot()

    def sync_counters(self) -> None:
        processed, failed, _, _ = self.recorder.snapshot()
        self.counters.sync(processed, failed)


class JobPulse:
    """The running jobs of the process, as the delivery thread sees them (see `delivery.Pulse`)."""

    def __init__(self, settings: Settings) -> None:
        self._resources_interval = settings.resources_interval
        self._pushgateway_url = settings.pushgateway_url
        self._lock = threading.Lock()
        self._jobs: dict[JobRecorder, _Running] = {}  # guarded by _lock
        self._push_requested = False  # guarded by _lock
        # A float that add() resets to sample at once; otherwise the delivery thread's.
        self._next_resources = 0.0
        self._sampler = ResourceSampler()

    def add(self, recorder: JobRecorder, labels: tuple[str, str], sampler: Sampler | None = None) -> None:
        """Start reporting a job (labels: its name and type, for the Prometheus counters).

        Its resources are this process's unless `sampler` reads them elsewhere.
        """
        with self._lock:
            self._jobs[recorder] = _Running(recorder, metrics.JobCounters(*labels), sampler)
        # A new job gets its first resources sample (and heartbeat) right away.
        self._next_resources = 0.0

    def remove(self, recorder: JobRecorder) -> None:
        """Stop reporting a job that ends: its counters are synced a last time, and pushed if configured."""
        with self._lock:
            self._jobs.pop(recorder).sync_counters()
            if self._pushgateway_url:
                self._push_requested = True

    def busy(self) -> bool:
        return bool(self._jobs)

    def pending(self) -> bool:
        return self._push_requested

    def tick(self) -> None:
        # Under the lock, so that a job's last sync in remove() and this one never count twice.
        with self._lock:
            for running in self._jobs.values():
                running.sync_counters()
            requested, self._push_requested = self._push_requested, False
        if requested:
            self._push()

    def collect(self, resend: bool) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for running in jobs:
            running.reported = running.recorder.report_progress(None if resend else running.reported)
        now = time.monotonic()
        if jobs and now >= self._next_resources:
            sample = self._sampler.sample()
            for running in jobs:
                running.recorder.report_resources(running.sampler.sample() if running.sampler else sample)
            self._next_resources = now + self._resources_interval

    def _push(self) -> None:
        url = self._pushgateway_url
        try:
            metrics.push_metrics(url, timeout=PUSH_TIMEOUT_S)  # type: ignore[arg-type]
        except Exception as exc:  # any failure to push is the same to the job: report and go on
            log.warning("jobpulse: cannot push metrics to %s: %s", url, exc)
