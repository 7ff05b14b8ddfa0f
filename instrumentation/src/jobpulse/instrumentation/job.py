"""The `Job` handle: counts, steps, log lines, and the records a job emits about itself."""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.context import Context

from . import metrics
from ._otel import end_span
from .control import JobCancelled, JobControl
from jobpulse.conventions import (
    ATTR_CONTROL_COMMAND,
    ATTR_EXCEPTION_MESSAGE,
    ATTR_EXCEPTION_STACKTRACE,
    ATTR_EXCEPTION_TYPE,
    ATTR_EXPECTED_DURATION,
    ATTR_FAILED,
    ATTR_HEARTBEAT_INTERVAL,
    ATTR_JOB_ID,
    ATTR_JOB_NAME,
    ATTR_JOB_OWNER,
    ATTR_JOB_TYPE,
    ATTR_PROCESSED,
    ATTR_SEQ,
    ATTR_STATUS,
    ATTR_STEP,
    ATTR_STEP_COUNT,
    ATTR_STEP_DURATION,
    ATTR_STEP_INDEX,
    ATTR_STEP_NAMES,
    ATTR_STEP_STATE,
    ATTR_TOTAL,
    EVENT_END,
    EVENT_PROGRESS,
    EVENT_RESOURCES,
    EVENT_START,
    EVENT_STEP,
    STATUS_CANCELLED,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STEP_COMPLETED,
    STEP_FAILED,
    STEP_STARTED,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from .reporter import Reporter

T = TypeVar("T")

MAX_JOB_ID_LENGTH = 200


_current: contextvars.ContextVar[Job | None] = contextvars.ContextVar("jobpulse_current_job", default=None)

_running_lock = threading.Lock()
_running: list[Job] = []


def current_job() -> Job | None:
    """The job running in the calling context (thread or asyncio task), or None outside any job."""
    return _current.get()


def sole_running_job() -> Job | None:
    """The running job when the process runs exactly one, else None."""
    with _running_lock:
        return _running[0] if len(_running) == 1 else None


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


def end_status(exc: BaseException | None) -> str:
    """How a job or step that ended with `exc` (None: normally) ended."""
    if exc is None:
        return STATUS_COMPLETED
    if isinstance(exc, (JobCancelled, KeyboardInterrupt)):
        return STATUS_CANCELLED
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return STATUS_COMPLETED
    return STATUS_FAILED


class _Step:
    """A step being run: its attributes are computed once, its span is the parent of its records."""

    def __init__(self, name: str, index: int | None, count: int, span: Span, context: Context) -> None:
        self.name = name
        self.attributes: dict[str, Any] = {ATTR_STEP: name}
        if index is not None:
            self.attributes[ATTR_STEP_INDEX] = index
        if count:
            self.attributes[ATTR_STEP_COUNT] = count
        self.span = span
        self.context = context
        self.started = time.monotonic()


# (processed, failed, total, current step): what progress records report, compared by the reporter.
Snapshot = tuple[int, int, "int | None", "_Step | None"]


class Job:
    """Handle on one run of a job, returned by `track_job` and reachable through `current_job()`.

    Count work with `advance()` (an integer add, cheaper than ``tqdm.update``) or `iter()`; mark phases
    with `step()`; send log lines with `log()` (ordinary `logging` is captured too). A background
    thread turns changes into coalesced progress records, so none of these ever waits on the network.
    """

    def __init__(
        self,
        reporter: Reporter,
        name: str,
        *,
        job_type: str | None = None,
        total: int | None = None,
        job_id: str | None = None,
        owner: str | None = None,
        expected_duration: float | timedelta | None = None,
        steps: Sequence[str] | None = None,
        attributes: Mapping[str, Any] | None = None,
        log_level: int = logging.INFO,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("a job needs a non-empty name")
        job_id = job_id or uuid.uuid4().hex
        if len(job_id) > MAX_JOB_ID_LENGTH:
            raise ValueError(f"job_id is longer than {MAX_JOB_ID_LENGTH} characters")
        self._reporter = reporter
        self._telemetry = reporter.telemetry
        self._id = job_id
        self._name = name
        self._type = job_type
        self._owner = owner
        self._expected_duration = (
            expected_duration.total_seconds()
            if isinstance(expected_duration, timedelta)
            else None
            if expected_duration is None
            else float(expected_duration)
        )
        self._steps = tuple(steps or ())
        self._attributes = dict(attributes or {})
        self.log_level = log_level  # the lowest `logging` level that becomes this job's log lines
        self._processed = 0
        self._failed = 0
        self._total: int | None = None
        if total is not None:
            self.set_total(total)
        # next() on itertools.count is atomic under the GIL: the job thread, the reporter and
        # logging threads can all draw from it.
        self._seq = itertools.count(1)
        self._step: _Step | None = None
        self._failed_step: tuple[BaseException, _Step] | None = None
        self._ended = False
        self._checkpoint_armed = False
        self._control = JobControl()
        self._checkpoint_actions: deque[Callable[[Job], None]] = deque()
        self._started = 0.0
        self._span: Span | None = None
        self._root_context = Context()

    # -- what the job has done ------------------------------------------------------------------

    @property
    def id(self) -> str:
        """Unique id of this run (``jobpulse.job.id``)."""
        return self._id

    @property
    def name(self) -> str:
        """The job's name; runs of the same job share it."""
        return self._name

    @property
    def job_type(self) -> str | None:
        """The family of jobs this one belongs to, if given."""
        return self._type

    @property
    def processed(self) -> int:
        """Records handled so far, failed ones included."""
        return self._processed

    @property
    def failed(self) -> int:
        """Records among `processed` that failed."""
        return self._failed

    @property
    def total(self) -> int | None:
        """Records expected in all, when known."""
        return self._total

    # -- the hot path ---------------------------------------------------------------------------

    def advance(self, n: int = 1, failed: int = 0) -> None:
        """Count `n` more records handled, `failed` of them failed: ``advance(failed=1)`` is one failed record.

        Only integer adds: no clock, no lock, no I/O. The reporter thread notices the change.
        """
        # Kept minimal on purpose (benchmarked against tqdm.update); control swaps in
        # _advance_checked as an instance attribute while a command is pending.
        self._processed += n
        if failed:
            self._failed += failed

    def _advance_checked(self, n: int = 1, failed: int = 0) -> None:
        Job.advance(self, n, failed)
        self.checkpoint()

    def set_total(self, n: int) -> None:
        """Set (or correct) how many records the job expects to handle in all."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"total must be a non-negative int, got {n!r}")
        self._total = n

    def iter(self, iterable: Iterable[T]) -> Iterator[T]:
        """Yield the items of `iterable`, counting one record as each is done (like tqdm).

        When no total is known and the iterable has a length, that length becomes the total.
        """
        if self._total is None:
            with contextlib.suppress(TypeError):
                self.set_total(len(iterable))  # type: ignore[arg-type]
        for item in iterable:
            yield item
            self._processed += 1
            if self._checkpoint_armed:
                self.checkpoint()

    # -- control --------------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """A safe point for pending control commands to act (a pause blocks here, a cancel raises).

        `iter()`, `step()` and, while a command is pending, `advance()` call it; long loops that use
        none of them can call it themselves. It costs one attribute test when nothing is pending.
        """
        if not self._checkpoint_armed:
            return
        # Disarm before draining so an action queued meanwhile is either drained now or re-arms.
        self._disarm_checkpoint()
        while self._checkpoint_actions:
            self._checkpoint_actions.popleft()(self)

    def _arm_checkpoint(self, action: Callable[[Job], None]) -> None:
        """Have `action(job)` run in the job's thread at its next checkpoint (callable from any thread)."""
        self._checkpoint_actions.append(action)
        # Swap advance() first: a checkpoint running in between then finds nothing armed and leaves
        # the swap for the next one to undo, rather than undoing it before it is made.
        self.advance = self._advance_checked  # type: ignore[method-assign]
        self._checkpoint_armed = True

    def _disarm_checkpoint(self) -> None:
        self._checkpoint_armed = False
        self.__dict__.pop("advance", None)

    # -- steps and log lines --------------------------------------------------------------------

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run a named phase of the job: emits step records and a child span, times the step.

        Steps declared up front with ``track_job(steps=[...])`` report their index and the count;
        other names work too. A step that raises is reported ``failed`` and the exception propagates.
        """
        if self._checkpoint_armed:
            self.checkpoint()
        index = self._steps.index(name) if name in self._steps else None
        parent = self._step
        span, context = self._telemetry.start_span(
            name,
            parent.context if parent else self._root_context,
            {ATTR_JOB_ID: self._id, **({ATTR_STEP_INDEX: index} if index is not None else {})},
        )
        step = _Step(name, index, len(self._steps), span, context)
        self._step = step
        self._emit(EVENT_STEP, {ATTR_STEP_STATE: STEP_STARTED})
        try:
            yield
        except BaseException as exc:
            self._end_step(step, parent, exc)
            raise
        self._end_step(step, parent, None)

    def _end_step(self, step: _Step, parent: _Step | None, exc: BaseException | None) -> None:
        duration = time.monotonic() - step.started
        status = end_status(exc)
        ok = status == STATUS_COMPLETED
        if not ok and (self._failed_step is None or self._failed_step[0] is not exc):
            # The innermost step sees the exception first; the end record names that one.
            self._failed_step = (exc, step)  # type: ignore[assignment]
        # A cancelled step did not complete either; the convention has no third ending for steps.
        self._emit(
            EVENT_STEP,
            {ATTR_STEP_STATE: STEP_COMPLETED if ok else STEP_FAILED, ATTR_STEP_DURATION: duration},
            levelno=logging.INFO if ok else logging.WARNING,
        )
        self._step = parent
        end_span(step.span, exc if status == STATUS_FAILED else None)
        metrics.step_duration.labels(self._name, step.name).observe(duration)

    def log(self, message: str, level: str | int = "info", **attributes: Any) -> None:
        """Send a log line of this job (``level``: a `logging` level or its name, e.g. ``"warning"``)."""
        if isinstance(level, int):
            levelno = level
        elif (levelno := logging.getLevelNamesMapping().get(level.upper())) is None:
            raise ValueError(f"unknown log level {level!r}")
        self._log_line(message, levelno, attributes)

    def _log_line(
        self, body: str, levelno: int, attributes: Mapping[str, Any], timestamp: int | None = None
    ) -> None:
        seq = next(self._seq)
        self._telemetry.emit(
            None,
            {ATTR_JOB_ID: self._id, ATTR_SEQ: seq, **attributes},
            self._context,
            levelno=levelno,
            body=body,
            timestamp=timestamp or time.time_ns(),
        )

    # -- lifecycle (driven by track_job) --------------------------------------------------------

    def _start(self) -> None:
        self._started = time.monotonic()
        start_attributes: dict[str, Any] = {ATTR_JOB_NAME: self._name}
        for key, value in (
            (ATTR_JOB_TYPE, self._type),
            (ATTR_JOB_OWNER, self._owner),
            (ATTR_EXPECTED_DURATION, self._expected_duration),
            (ATTR_STEP_NAMES, list(self._steps) or None),
        ):
            if value is not None:
                start_attributes[key] = value
        self._span, self._root_context = self._telemetry.start_span(
            self._name, Context(), {**self._attributes, **start_attributes, ATTR_JOB_ID: self._id}
        )
        with _running_lock:
            _running.append(self)
        metrics.job_started(self._name, self._type or "")
        self._reporter.register(self)
        self._emit(
            EVENT_START,
            {
                **self._attributes,
                **start_attributes,
                ATTR_HEARTBEAT_INTERVAL: self._reporter.settings.resources_interval,
            },
        )

    def _finish(self, exc: BaseException | None) -> None:
        status = end_status(exc)
        # Set before the end record takes its seq: the reporter checks it after taking its own, so
        # no progress record can follow the end record.
        self._ended = True
        end_attributes: dict[str, Any] = {ATTR_STATUS: status}
        step = self._step
        if status != STATUS_COMPLETED:
            if self._failed_step is not None and self._failed_step[0] is exc:
                step = self._failed_step[1]
            if status == STATUS_FAILED:
                end_attributes.update(exception_attributes(exc))  # type: ignore[arg-type]
            if isinstance(exc, JobCancelled) and exc.command_id is not None:
                end_attributes[ATTR_CONTROL_COMMAND] = exc.command_id
        metrics.job_ended(self._name, self._type or "", status, time.monotonic() - self._started)
        self._reporter.unregister(self)
        with _running_lock:
            _running.remove(self)
        self._span.set_attribute(ATTR_STATUS, status)  # type: ignore[union-attr]
        end_span(self._span, exc if status == STATUS_FAILED else None)  # type: ignore[arg-type]
        self._emit(
            EVENT_END,
            end_attributes,
            levelno=logging.ERROR if status == STATUS_FAILED else logging.INFO,
            snapshot=(self._processed, self._failed, self._total, step),
        )

    # -- records --------------------------------------------------------------------------------

    @property
    def _context(self) -> Context:
        step = self._step
        return step.context if step is not None else self._root_context

    def _snapshot(self) -> Snapshot:
        return (self._processed, self._failed, self._total, self._step)

    def _emit(
        self,
        event_name: str,
        extra: Mapping[str, Any],
        *,
        levelno: int = logging.INFO,
        snapshot: Snapshot | None = None,
    ) -> None:
        seq = next(self._seq)
        self._emit_record(seq, event_name, snapshot or self._snapshot(), extra, levelno)

    def _emit_record(
        self, seq: int, event_name: str, snapshot: Snapshot, extra: Mapping[str, Any], levelno: int = logging.INFO
    ) -> None:
        processed, failed, total, step = snapshot
        attributes: dict[str, Any] = {
            ATTR_JOB_ID: self._id,
            ATTR_SEQ: seq,
            ATTR_PROCESSED: processed,
            ATTR_FAILED: failed,
        }
        if total is not None:
            attributes[ATTR_TOTAL] = total
        if step is not None:
            attributes.update(step.attributes)
        attributes.update(extra)
        self._telemetry.emit(event_name, attributes, self._context, levelno=levelno, timestamp=time.time_ns())

    def _report_progress(self, last: Snapshot | None) -> Snapshot | None:
        """Emit a progress record if anything changed since `last`; return what is now reported.

        Called by the reporter thread.
        """
        if self._snapshot() == last:
            return last
        # The seq is taken before the counters are read, so the counts are at least as new as
        # those of any record with a lower seq.
        seq = next(self._seq)
        snapshot = self._snapshot()
        if self._ended:
            return last
        self._emit_record(seq, EVENT_PROGRESS, snapshot, {})
        return snapshot

    def _report_resources(self, sample: Mapping[str, int | float]) -> None:
        """Emit a resources record (the job's heartbeat); called by the reporter thread."""
        seq = next(self._seq)
        if not self._ended:
            attributes = {ATTR_JOB_ID: self._id, ATTR_SEQ: seq, **sample}
            self._telemetry.emit(EVENT_RESOURCES, attributes, self._context, timestamp=time.time_ns())
