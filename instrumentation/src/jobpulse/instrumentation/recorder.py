"""A job's records: their numbering, their trace context, and what each one says.

The job handle, the pulse (progress and resources) and the control channel (acknowledgements) all
emit a job's records through its `JobRecorder`, so they share one seq and one trace.
"""

from __future__ import annotations

import itertools
import logging
import time
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry.context import Context

from jobpulse.conventions import (
    ATTR_EXCEPTION_MESSAGE,
    ATTR_EXCEPTION_STACKTRACE,
    ATTR_EXCEPTION_TYPE,
    ATTR_FAILED,
    ATTR_JOB_ID,
    ATTR_PROCESSED,
    ATTR_SEQ,
    ATTR_STATUS,
    ATTR_STEP,
    ATTR_STEP_COUNT,
    ATTR_STEP_DURATION,
    ATTR_STEP_INDEX,
    ATTR_STEP_STATE,
    ATTR_TOTAL,
    EVENT_END,
    EVENT_PROGRESS,
    EVENT_RESOURCES,
    EVENT_START,
    EVENT_STEP,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STEP_COMPLETED,
    STEP_FAILED,
    STEP_STARTED,
)

from ._otel import Telemetry, end_span

if TYPE_CHECKING:
    from opentelemetry.trace import Span


class Counts(Protocol):
    """Where a job's counts are read (the job handle)."""

    @property
    def processed(self) -> int: ...

    @property
    def failed(self) -> int: ...

    @property
    def total(self) -> int | None: ...


class Step:
    """A step being run: its attributes are computed once, its span is the parent of its records."""

    def __init__(self, name: str, index: int | None, count: int, span: Span, context: Context, parent: Step | None):
        self.name = name
        self.attributes: dict[str, Any] = {ATTR_STEP: name}
        if index is not None:
            self.attributes[ATTR_STEP_INDEX] = index
        if count:
            self.attributes[ATTR_STEP_COUNT] = count
        self.span = span
        self.context = context
        self.parent = parent
        self.started = time.monotonic()


# (processed, failed, total, current step): what progress records report, compared by the pulse.
# Counts of None are left out of a record (an end that leaves them to the records before it).
Snapshot = tuple["int | None", "int | None", "int | None", "Step | None"]


def exception_type_name(exc: BaseException) -> str:
    """Fully qualified type name, spelled as the OpenTelemetry SDK spells it (builtins stay bare)."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ in (None, "builtins") else f"{cls.__module__}.{cls.__qualname__}"


def exception_attributes(exc: BaseException) -> dict[str, str]:
    return {
        ATTR_EXCEPTION_TYPE: exception_type_name(exc),
        ATTR_EXCEPTION_MESSAGE: str(exc),
        ATTR_EXCEPTION_STACKTRACE: "".join(traceback.format_exception(exc)),
    }


class JobRecorder:
    """Numbers, builds and emits the records and spans of one job run.

    Every record carries the job's absolute counts as they are when it takes its seq, and the trace
    context of the step it was emitted in. Seqs start at `first_seq` (see `joining` for why not 1).
    """

    def __init__(self, telemetry: Telemetry, job_id: str, counts: Counts, *, first_seq: int = 1) -> None:
        self.job_id = job_id
        self._telemetry = telemetry
        self._counts = counts
        # next() on itertools.count is atomic under the GIL: the job thread, the delivery thread, the
        # control thread and logging threads can all draw from it.
        self._seq = itertools.count(first_seq)
        self.step: Step | None = None
        self._failed_step: tuple[BaseException, Step] | None = None
        self._span: Span | None = None
        self._root_context = Context()
        self.ended = False
        # Reporting into a job another process started and ends (`join`).
        self.joined = False

    def snapshot(self) -> Snapshot:
        counts = self._counts
        return (counts.processed, counts.failed, counts.total, self.step)

    @property
    def trace_context(self) -> Context:
        """The context of the job's span: the parent for the spans of processes started for the job."""
        return self._root_context

    # -- the run and its steps (the job's thread) -----------------------------------------------

    def start(self, name: str, span_attributes: Mapping[str, Any], start_attributes: Mapping[str, Any]) -> None:
        """Start the job's span and emit its start record."""
        self._span, self._root_context = self._telemetry.start_span(name, Context(), span_attributes)
        self.emit(EVENT_START, start_attributes)

    def join(self, name: str, parent: Context, span_attributes: Mapping[str, Any]) -> None:
        """Report into a job another process started: a span under `parent` and the counts, no start record."""
        self.joined = True
        self._span, self._root_context = self._telemetry.start_span(name, parent, span_attributes)
        self.emit(EVENT_PROGRESS, {})

    def leave(self, status: str, exc: BaseException | None) -> None:
        """Stop reporting into a joined job, whose owner sends its end: the final counts, and why it failed."""
        self.ended = True
        self._span.set_attribute(ATTR_STATUS, status)  # type: ignore[union-attr]
        end_span(self._span, exc if status == STATUS_FAILED else None)  # type: ignore[arg-type]
        self.emit(EVENT_PROGRESS, {})
        if status == STATUS_FAILED and exc is not None:
            self.line(f"{exception_type_name(exc)}: {exc}", logging.ERROR, exception_attributes(exc))

    def start_step(self, name: str, index: int | None, count: int) -> Step:
        """Start a step (a child span of the current one) and emit its started record."""
        parent = self.step
        span, context = self._telemetry.start_span(
            name,
            parent.context if parent else self._root_context,
            {ATTR_JOB_ID: self.job_id, **({ATTR_STEP_INDEX: index} if index is not None else {})},
        )
        self.step = Step(name, index, count, span, context, parent)
        self.emit(EVENT_STEP, {ATTR_STEP_STATE: STEP_STARTED})
        return self.step

    def end_step(self, step: Step, status: str, exc: BaseException | None) -> float:
        """Emit the step's completed or failed record, end its span; return its duration in seconds."""
        duration = time.monotonic() - step.started
        ok = status == STATUS_COMPLETED
        if not ok and (self._failed_step is None or self._failed_step[0] is not exc):
            # The innermost step sees the exception first; the end record names that one.
            self._failed_step = (exc, step)  # type: ignore[assignment]
        # A cancelled step did not complete either; the convention has no third ending for steps.
        self.emit(
            EVENT_STEP,
            {ATTR_STEP_STATE: STEP_COMPLETED if ok else STEP_FAILED, ATTR_STEP_DURATION: duration},
            levelno=logging.INFO if ok else logging.WARNING,
        )
        self.step = step.parent
        end_span(step.span, exc if status == STATUS_FAILED else None)
        return duration

    def end(
        self,
        status: str,
        exc: BaseException | None,
        attributes: Mapping[str, Any],
        *,
        counts: bool = True,
        seq: int | None = None,
    ) -> None:
        """End the job's span and emit its end record; no progress record follows it.

        Without `counts` the end leaves the counts to the records before it; `seq`, when given, numbers
        the end (and anything after it) from there: the owner of a shared job ends it above the seqs
        of the processes that joined it.
        """
        # Set before the end record takes its seq: report_progress checks it after taking its own.
        self.ended = True
        if seq is not None:
            self._seq = itertools.count(seq)
        processed, failed, total, step = self.snapshot() if counts else (None, None, None, self.step)
        if status != STATUS_COMPLETED and self._failed_step is not None and self._failed_step[0] is exc:
            step = self._failed_step[1]
        self._span.set_attribute(ATTR_STATUS, status)  # type: ignore[union-attr]
        end_span(self._span, exc if status == STATUS_FAILED else None)  # type: ignore[arg-type]
        self.emit(
            EVENT_END,
            {ATTR_STATUS: status, **attributes},
            levelno=logging.ERROR if status == STATUS_FAILED else logging.INFO,
            snapshot=(processed, failed, total, step),
        )

    # -- records (any thread) -------------------------------------------------------------------

    def emit(
        self,
        event_name: str,
        extra: Mapping[str, Any],
        *,
        levelno: int = logging.INFO,
        snapshot: Snapshot | None = None,
    ) -> None:
        """Emit an event record carrying the job's counts (those of `snapshot`, when given)."""
        seq = next(self._seq)
        self._emit_counted(seq, event_name, snapshot or self.snapshot(), extra, levelno)

    def line(self, body: str, levelno: int, attributes: Mapping[str, Any], timestamp: int | None = None) -> None:
        """Emit a job log line."""
        seq = next(self._seq)
        self._telemetry.emit(
            None,
            {ATTR_JOB_ID: self.job_id, ATTR_SEQ: seq, **attributes},
            self._context,
            levelno=levelno,
            body=body,
            timestamp=timestamp or time.time_ns(),
        )

    def report_progress(self, last: Snapshot | None) -> Snapshot | None:
        """Emit a progress record if anything changed since `last`; return what is now reported."""
        if self.snapshot() == last:
            return last
        # The seq is taken before the counts are read, so the counts are at least as new as those of
        # any record with a lower seq.
        seq = next(self._seq)
        snapshot = self.snapshot()
        if self.ended:
            return last
        self._emit_counted(seq, EVENT_PROGRESS, snapshot, {})
        return snapshot

    def report_resources(self, sample: Mapping[str, int | float]) -> None:
        """Emit a resources record (the job's heartbeat)."""
        seq = next(self._seq)
        # A joined process leaves the heartbeat to the job's owner, which samples the whole process tree.
        if not self.ended and not self.joined:
            attributes = {ATTR_JOB_ID: self.job_id, ATTR_SEQ: seq, **sample}
            self._telemetry.emit(EVENT_RESOURCES, attributes, self._context, timestamp=time.time_ns())

    @property
    def _context(self) -> Context:
        step = self.step
        return step.context if step is not None else self._root_context

    def _emit_counted(
        self, seq: int, event_name: str, snapshot: Snapshot, extra: Mapping[str, Any], levelno: int = logging.INFO
    ) -> None:
        processed, failed, total, step = snapshot
        attributes: dict[str, Any] = {ATTR_JOB_ID: self.job_id, ATTR_SEQ: seq}
        if processed is not None:
            attributes[ATTR_PROCESSED] = processed
        if failed is not None:
            attributes[ATTR_FAILED] = failed
        if total is not None:
            attributes[ATTR_TOTAL] = total
        if step is not None:
            attributes.update(step.attributes)
        attributes.update(extra)
        self._telemetry.emit(event_name, attributes, self._context, levelno=levelno, timestamp=time.time_ns())
