"""Delivery: the log record processor that batches and exports the job side's records and spans.

It has the shape of the OpenTelemetry SDK's BatchLogRecordProcessor: `on_emit` only appends to a
buffer, and one daemon thread wakes every tick (or at once for a job's end and control
acknowledgements) and exports what is buffered in one logs and one traces request. Before it exports,
the thread drives the `Pulse` in front of it, which turns the jobs' changed counts into coalesced
progress records; those are emitted like any other record and reach the buffer through `on_emit`.

Where it differs from the SDK's processor is an unreachable receiver: it warns once, keeps lifecycle
records (never dropped) and the newest log lines (bounded), retries with backoff, and says once how
much it delivered when the receiver is back. At exit, `close` waits for what is buffered within a
bound and says what it drops.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from jobpulse.conventions import EVENT_END, EVENT_PAUSED, EVENT_RESUMED

from ._otel import (
    Exporters,
    LogRecordProcessor,
    ReadWriteLogRecord,
    readable,
    silence_exporter_logs_in,
    suppress_instrumentation,
)
from .buffer import RecordBuffer, SpanBuffer, kind_of
from .config import Settings

log = logging.getLogger("jobpulse.instrumentation")

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 5.0
# Records per request: a backlog after a long outage goes out over several ticks instead of in
# one request big enough to hit a receiver's body limit.
MAX_BATCH = 4096

# Worth sending now rather than at the next tick: a job's end, and acknowledgements of control.
_SEND_AT_ONCE = frozenset({EVENT_END, EVENT_PAUSED, EVENT_RESUMED})


class Pulse(Protocol):
    """The work on the running jobs that the delivery thread does every tick, ahead of exporting."""

    def busy(self) -> bool:
        """True while jobs run: ticks are then due every interval, not only when woken."""
        ...

    def pending(self) -> bool:
        """True while work is left that a flush waits for (a metrics push)."""
        ...

    def tick(self) -> None:
        """Work due every tick, while exports back off too."""
        ...

    def collect(self, resend: bool) -> None:
        """Emit the records derived from the jobs, right before an export attempt.

        With `resend`, derived records were dropped from a failed export: report every job afresh.
        """
        ...


class DeliveryProcessor(LogRecordProcessor):
    """Buffers, batches and exports the records and spans of every job in the process."""

    def __init__(self, settings: Settings, exporters: Exporters, pulse: Pulse) -> None:
        self._exporters = exporters
        self._pulse = pulse
        self._configured_interval = settings.progress_interval
        self._interval = settings.progress_interval  # guarded by _cond
        self._exit_flush_timeout = settings.exit_flush_timeout
        self._cond = threading.Condition()
        # Guarded by _cond.
        self._records = RecordBuffer(settings.buffer_size)
        self._spans = SpanBuffer(settings.buffer_size)
        self._records_in_flight = 0
        self._spans_in_flight = 0
        self._wake = False
        self._ticks_started = 0
        self._ticks_done = 0
        self._failures = 0
        self._retry_at = 0.0
        self._closing = False
        self._gave_up = False
        # Owned by the delivery thread.
        self._backoff = BACKOFF_MIN_S
        self._resend = False
        self._recovered: int | None = None
        self._drops_reported = False
        self._tick_error_reported = False
        self.last_export_failed = False

        self.span_processor = _SpanIntake(self)
        self._thread = threading.Thread(target=self._run, name="jobpulse-delivery", daemon=True)
        self._thread.start()
        silence_exporter_logs_in(self._thread.ident)  # type: ignore[arg-type]

    @property
    def thread_ident(self) -> int | None:
        return self._thread.ident

    # -- LogRecordProcessor (called from the threads that emit) ---------------------------------

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = readable(log_record)
        event_name = record.log_record.event_name
        with self._cond:
            self._records.add(record, kind_of(event_name))
            if event_name in _SEND_AT_ONCE:
                self._nudge_locked()

    def shutdown(self) -> None:
        self.close(self._exit_flush_timeout)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.flush(timeout_millis / 1000)

    def accept_span(self, span: ReadableSpan) -> None:
        with self._cond:
            self._spans.add(span)

    def suggest_interval(self, seconds: float | None) -> None:
        """Tick every ``seconds`` (the sidecar's suggestion), or at the configured interval when None."""
        valid = isinstance(seconds, int | float) and seconds > 0
        interval = seconds if valid else self._configured_interval
        with self._cond:
            if interval != self._interval:
                self._interval = interval
                self._nudge_locked()

    def wake(self) -> None:
        """Have the delivery thread tick now (a job started: its first resources sample is due)."""
        with self._cond:
            self._nudge_locked()

    # -- flushing -------------------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Export everything emitted so far; True when it was delivered within `timeout` seconds.

        Failed attempts are retried on the backoff of the delivery thread.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._gave_up:
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
                if self._failures == failures and self._drained():
                    return True
            return False

    def close(self, timeout: float) -> None:
        """At exit: deliver what is buffered, then say on the log what could not be and why.

        It waits at most `timeout` seconds. An attempt starts at once, whatever the backoff, and the
        first attempt that fails ends the wait: retrying a receiver that is not there would only delay
        the exit.
        """
        with self._cond:
            self._closing = True
            target = self._ticks_started + 1
            self._nudge_locked()
            self._cond.wait_for(lambda: self._gave_up or (self._ticks_done >= target and self._drained()), timeout)
            records = len(self._records) + self._records_in_flight
            spans = len(self._spans) + self._spans_in_flight
            gave_up = self._gave_up
        if not records and not spans:
            return
        counts = [f"{count} {noun}" for count, noun in ((records, "job records"), (spans, "spans")) if count]
        log.warning(
            "jobpulse: exiting without delivering %s to %s (%s); they are dropped",
            " and ".join(counts),
            self._exporters.endpoint,
            "the last export failed" if gave_up else f"exit_flush_timeout, {timeout:g} s, ran out",
        )

    def _drained(self) -> bool:
        return not (
            self._records or self._spans or self._records_in_flight or self._spans_in_flight or self._pulse.pending()
        )

    def _nudge_locked(self) -> None:
        self._wake = True
        self._cond.notify_all()

    # -- the delivery thread --------------------------------------------------------------------

    def _run(self) -> None:
        suppress_instrumentation()
        while True:
            with self._cond:
                due = self._pulse.busy() or not self._drained()
                self._cond.wait_for(lambda: self._wake, self._interval if due else None)
                self._wake = False
                self._ticks_started += 1
            try:
                self._tick()
            except Exception:
                # A bug here must not end delivery for the life of the process, nor flood its log.
                if not self._tick_error_reported:
                    self._tick_error_reported = True
                    log.exception("jobpulse: delivery tick failed; further failures are not reported")
            with self._cond:
                self._ticks_done += 1
                self._cond.notify_all()

    def _tick(self) -> None:
        # The pulse's own work (Prometheus counters) does not depend on the receiver: keep it
        # current even while backing off.
        self._pulse.tick()
        self._report_drops()
        with self._cond:
            closing, waiting = self._closing, time.monotonic() < self._retry_at
            if self._gave_up or (waiting and not closing):
                return
        resend, self._resend = self._resend, False
        self._pulse.collect(resend)
        # One batch per tick; at exit, everything.
        while self._export() and closing:
            pass

    def _export(self) -> bool:
        """Export one batch; True when there was one and the receiver took it."""
        with self._cond:
            batch = self._records.take(MAX_BATCH)
            spans = self._spans.take(MAX_BATCH)
            self._records_in_flight, self._spans_in_flight = len(batch), len(spans)
        if not batch and not spans:
            return False
        records = [record for _, record in batch]
        logs_ok = not records or self._exporters.export_logs(records)
        # Spans go to the same receiver: after a failed logs request, don't spend a timeout on them.
        spans_ok = logs_ok and (not spans or self._exporters.export_spans(spans))
        if logs_ok and spans_ok:
            self._delivered(len(records) + len(spans))
            return True
        self._failed(batch if not logs_ok else [], spans)
        return False

    def _delivered(self, count: int) -> None:
        with self._cond:
            self._records_in_flight = self._spans_in_flight = 0
            self._retry_at = 0.0
            backlog_left = not self._drained()
        self._backoff = BACKOFF_MIN_S
        if self.last_export_failed:
            self.last_export_failed = False
            self._recovered = 0
        if self._recovered is None:
            return
        self._recovered += count
        if not backlog_left:
            log.info(
                "jobpulse: delivery to %s recovered; delivered %d buffered records (%d log lines dropped so far)",
                self._exporters.endpoint,
                self._recovered,
                self._records.dropped_lines,
            )
            self._recovered = None

    def _failed(self, batch: list[Any], spans: list[ReadableSpan]) -> None:
        """Put back what was not delivered (logs delivered with spans that failed stay delivered)."""
        if not self.last_export_failed:
            self.last_export_failed = True
            self._recovered = None
            # Said before anything waiting on the failure wakes, so an exit message comes after it.
            log.warning(
                "jobpulse: cannot deliver job telemetry to %s; jobs keep running and their records are "
                "buffered until it is reachable",
                self._exporters.endpoint,
            )
        with self._cond:
            self._resend = self._records.restore(batch) > 0 or self._resend
            self._spans.restore(spans)
            self._records_in_flight = self._spans_in_flight = 0
            self._failures += 1
            self._retry_at = time.monotonic() + self._backoff
            self._gave_up = self._closing
            self._cond.notify_all()
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)

    def _report_drops(self) -> None:
        if self._records.dropped_lines and not self._drops_reported:
            self._drops_reported = True
            log.warning(
                "jobpulse: job log lines come faster than they can be delivered; keeping the newest %d "
                "and dropping older ones",
                self._records.line_limit,
            )


class _SpanIntake(SpanProcessor):
    """Hands ended spans to the delivery processor, which exports them beside the records."""

    def __init__(self, delivery: DeliveryProcessor) -> None:
        self._delivery = delivery

    def on_end(self, span: ReadableSpan) -> None:
        self._delivery.accept_span(span)
