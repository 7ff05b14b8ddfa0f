"""The reporter: the process's one background thread, and the only one that touches the network.

Every tick it turns changed job counts into progress records, samples resources now and then,
syncs the Prometheus counters, and sends whatever is buffered in one logs and one traces request.
Job threads only append to its buffers. When the receiver is unreachable it warns once, keeps
lifecycle records (never dropped) and the newest log lines (bounded), retries with backoff, and says
once how much it delivered when the receiver is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import metrics
from ._otel import Telemetry, silence_exporter_logs_in, suppress_instrumentation
from .config import Settings
from .control import ControlChannel, control_url
from jobpulse.conventions import EVENT_END, EVENT_PAUSED, EVENT_PROGRESS, EVENT_RESOURCES, EVENT_RESUMED, LIFECYCLE_EVENTS
from .resources import ResourceSampler

if TYPE_CHECKING:
    from .job import Job, Snapshot

log = logging.getLogger("jobpulse.instrumentation")

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 5.0
# Records per request: a backlog after a long outage goes out over several ticks instead of in
# one request big enough to hit a receiver's body limit.
MAX_BATCH = 4096
PUSH_TIMEOUT_S = 2.0

# Worth sending now rather than at the next tick: a job's end, and acknowledgements of control.
_SEND_AT_ONCE = frozenset({EVENT_END, EVENT_PAUSED, EVENT_RESUMED})

# Re-derived from the jobs at every tick, so never worth keeping across a failed export.
_EPHEMERAL_EVENTS = frozenset({EVENT_PROGRESS, EVENT_RESOURCES})

# Kinds of buffered log records: what survives a failed export and what may be dropped.
_LIFECYCLE = 0  # never dropped
_LINE = 1  # the oldest are dropped when the buffer is full
_EPHEMERAL = 2  # dropped after a failed export, derived again


class _Tracked:
    """What the reporter remembers about an active job."""

    def __init__(self, job: Job) -> None:
        self.job = job
        # What the start record already says; None forces the next progress record.
        self.reported: Snapshot | None = job._snapshot()
        self.counted_processed = 0
        self.counted_failed = 0
        labels = (job.name, job.job_type or "")
        self.processed_counter = metrics.records_processed.labels(*labels)
        self.failed_counter = metrics.records_failed.labels(*labels)

    def sync_counters(self) -> None:
        processed, failed = self.job.processed, self.job.failed
        if processed != self.counted_processed:
            self.processed_counter.inc(processed - self.counted_processed)
            self.counted_processed = processed
        if failed != self.counted_failed:
            self.failed_counter.inc(failed - self.counted_failed)
            self.counted_failed = failed


class Reporter:
    """Buffers, coalesces and exports the records of every job in the process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cond = threading.Condition()
        # Guarded by _cond. One queue in emission order, so the receiver sees a job's records in
        # the order they happened (a log line never arrives after the job's end).
        self._records: deque[tuple[int, Any]] = deque()
        self._lines_buffered = 0
        self._spans: deque[Any] = deque()
        self._dropped_lines = 0
        self._drops_reported = False
        self._wake = False
        self._push_requested = False
        self._ticks_started = 0
        self._ticks_done = 0
        self._jobs_lock = threading.Lock()
        self._jobs: dict[Job, _Tracked] = {}  # guarded by _jobs_lock
        self._control: ControlChannel | None = None  # started with the first job
        # A float that register() resets to sample at once; otherwise the reporter thread's.
        self._next_resources = 0.0
        # Owned by the reporter thread.
        self._retry_at = 0.0
        self._backoff = BACKOFF_MIN_S
        self._recovered: int | None = None
        self._failures = 0
        self._tick_error_reported = False
        self.last_export_failed = False

        self.telemetry = Telemetry(settings, self._accept_log, self._accept_span)
        self._sampler = ResourceSampler()
        self._thread = threading.Thread(target=self._run, name="jobpulse-reporter", daemon=True)
        self._thread.start()
        silence_exporter_logs_in(self._thread.ident)  # type: ignore[arg-type]

    @property
    def thread_ident(self) -> int | None:
        return self._thread.ident

    # -- called from job threads ----------------------------------------------------------------

    def register(self, job: Job) -> None:
        with self._jobs_lock:
            self._jobs[job] = _Tracked(job)
            if self.settings.control and self._control is None:
                self._control = ControlChannel(control_url(self.settings.endpoint), dict(self.settings.headers))
        if self._control is not None:
            self._control.register(job)
        # A new job gets its first resources sample (and heartbeat) right away.
        self._next_resources = 0.0
        self._nudge()

    def unregister(self, job: Job) -> None:
        with self._jobs_lock:
            self._jobs.pop(job).sync_counters()
        if self._control is not None:
            self._control.unregister(job)
        if self.settings.pushgateway_url:
            with self._cond:
                self._push_requested = True

    def flush(self, timeout: float, *, after_failure: float | None = None) -> bool:
        """Export everything emitted so far; True when it was delivered within `timeout` seconds.

        Failed attempts are retried on the reporter's backoff. Once one fails, `after_failure` (when
        given) caps the time left: waiting on an unreachable receiver would only delay the caller.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while (backoff_left := self._retry_at - time.monotonic()) > 0:
                    if self._retry_at >= deadline:
                        return False
                    self._cond.wait(backoff_left)
                failures = self._failures
                target = self._ticks_started + 1  # a tick that starts after this point

                def attempted(target: int = target, failures: int = failures) -> bool:
                    return self._ticks_done >= target or self._failures > failures

                self._nudge_locked()
                if not self._cond.wait_for(attempted, deadline - time.monotonic()):
                    return False
                if self._failures > failures:
                    if after_failure is not None:
                        deadline = min(deadline, time.monotonic() + after_failure)
                elif self._empty():
                    return True

    def _accept_log(self, record: Any, event_name: str | None) -> None:
        with self._cond:
            if event_name in _EPHEMERAL_EVENTS:
                self._records.append((_EPHEMERAL, record))
            elif event_name in LIFECYCLE_EVENTS:
                self._records.append((_LIFECYCLE, record))
                if event_name in _SEND_AT_ONCE:
                    self._nudge_locked()
            else:
                self._records.append((_LINE, record))
                self._lines_buffered += 1
                self._trim_lines()

    def _trim_lines(self) -> None:
        """Over the buffer's bound, drop the oldest log lines down to 90% of it, keeping every other record.

        Dropping a tenth at a time makes a flood during an outage cost one pass per many lines.
        """
        limit = self.settings.buffer_size
        if self._lines_buffered <= limit:
            return
        excess = self._lines_buffered - limit + max(limit // 10, 1)
        kept: deque[tuple[int, Any]] = deque()
        for entry in self._records:
            if excess and entry[0] == _LINE:
                excess -= 1
                self._lines_buffered -= 1
                self._dropped_lines += 1
            else:
                kept.append(entry)
        self._records = kept

    def _accept_span(self, span: Any) -> None:
        with self._cond:
            if len(self._spans) >= self.settings.buffer_size:
                self._spans.popleft()
            self._spans.append(span)

    def _nudge(self) -> None:
        with self._cond:
            self._nudge_locked()

    def _nudge_locked(self) -> None:
        self._wake = True
        self._cond.notify_all()

    def _empty(self) -> bool:
        return not (self._records or self._spans or self._push_requested)

    # -- the reporter thread --------------------------------------------------------------------

    def _run(self) -> None:
        suppress_instrumentation()
        while True:
            with self._cond:
                busy = self._jobs or not self._empty()
                self._cond.wait_for(lambda: self._wake, self.settings.progress_interval if busy else None)
                self._wake = False
                self._ticks_started += 1
            try:
                self._tick()
            except Exception:
                # A bug here must not end reporting for the life of the process, nor flood its log.
                if not self._tick_error_reported:
                    self._tick_error_reported = True
                    log.exception("jobpulse: reporter tick failed; further failures are not reported")
            with self._cond:
                self._ticks_done += 1
                self._cond.notify_all()

    def _tick(self) -> None:
        # Metrics don't depend on the OTLP receiver: keep them current even while backing off.
        with self._jobs_lock:
            tracked = list(self._jobs.values())
            for entry in tracked:
                entry.sync_counters()
        self._push()
        self._report_drops()
        now = time.monotonic()
        if now < self._retry_at:
            return
        for entry in tracked:
            entry.reported = entry.job._report_progress(entry.reported)
        if tracked and now >= self._next_resources:
            sample = self._sampler.sample()
            for entry in tracked:
                entry.job._report_resources(sample)
            self._next_resources = now + self.settings.resources_interval
        if not self._export():
            # The progress records just dropped must be derived again at the next attempt.
            for entry in tracked:
                entry.reported = None

    def _export(self) -> bool:
        with self._cond:
            batch = _take(self._records, MAX_BATCH)
            self._lines_buffered -= sum(1 for kind, _ in batch if kind == _LINE)
            spans = _take(self._spans, MAX_BATCH)
        logs = [record for _, record in batch]
        if not logs and not spans:
            return True
        logs_ok = not logs or self.telemetry.export_logs(logs)
        # Spans go to the same receiver: after a failed logs request, don't spend a timeout on them.
        spans_ok = logs_ok and (not spans or self.telemetry.export_spans(spans))
        if logs_ok and spans_ok:
            self._delivered(len(logs) + len(spans))
            return True
        with self._cond:
            if not logs_ok:
                kept = [entry for entry in batch if entry[0] != _EPHEMERAL]
                self._records.extendleft(reversed(kept))
                self._lines_buffered += sum(1 for kind, _ in kept if kind == _LINE)
                self._trim_lines()
            _restore(self._spans, spans, self.settings.buffer_size)
        self._failed()
        return logs_ok

    def _failed(self) -> None:
        self._failures += 1
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
        if not self.last_export_failed:
            self.last_export_failed = True
            self._recovered = None
            log.warning(
                "jobpulse: cannot deliver job telemetry to %s; jobs keep running and their records are "
                "buffered until it is reachable",
                self.telemetry.endpoint,
            )

    def _delivered(self, count: int) -> None:
        self._retry_at = 0.0
        self._backoff = BACKOFF_MIN_S
        if self.last_export_failed:
            self.last_export_failed = False
            self._recovered = 0
        if self._recovered is None:
            return
        self._recovered += count
        with self._cond:
            backlog_left = not self._empty()
        if not backlog_left:
            log.info(
                "jobpulse: delivery to %s recovered; delivered %d buffered records (%d log lines dropped so far)",
                self.telemetry.endpoint,
                self._recovered,
                self._dropped_lines,
            )
            self._recovered = None

    def _report_drops(self) -> None:
        if self._dropped_lines and not self._drops_reported:
            self._drops_reported = True
            log.warning(
                "jobpulse: job log lines come faster than they can be delivered; keeping the newest %d "
                "and dropping older ones",
                self.settings.buffer_size,
            )

    def _push(self) -> None:
        with self._cond:
            requested, self._push_requested = self._push_requested, False
        if not requested:
            return
        url = self.settings.pushgateway_url
        try:
            metrics.push_metrics(url, timeout=PUSH_TIMEOUT_S)  # type: ignore[arg-type]
        except Exception as exc:  # any failure to push is the same to the job: report and go on
            log.warning("jobpulse: cannot push metrics to %s: %s", url, exc)


def _take(buffer: deque[Any], limit: int) -> list[Any]:
    return [buffer.popleft() for _ in range(min(limit, len(buffer)))]


def _restore(buffer: deque[Any], records: Sequence[Any], limit: int) -> int:
    """Put records back in front of `buffer`, keeping at most `limit` in all; return how many were dropped."""
    room = max(limit - len(buffer), 0)
    dropped = max(len(records) - room, 0)
    buffer.extendleft(reversed(records[dropped:]))
    return dropped
