"""The `Job` handle: it counts, runs steps and writes log lines; its records go through its recorder."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from jobpulse.conventions import (
    ATTR_CONTROL_COMMAND,
    ATTR_EXPECTED_DURATION,
    ATTR_HEARTBEAT_INTERVAL,
    ATTR_JOB_ID,
    ATTR_JOB_NAME,
    ATTR_JOB_OWNER,
    ATTR_JOB_TYPE,
    ATTR_PRIORITY,
    ATTR_QUEUE,
    ATTR_STEP_NAMES,
    STATUS_CANCELLED,
    STATUS_COMPLETED,
    STATUS_FAILED,
)

from . import metrics
from .control import JobCancelled, JobControl
from .recorder import JobRecorder, Step, exception_attributes

if TYPE_CHECKING:
    from .joining import Inherited
    from .runtime import Runtime

T = TypeVar("T")

MAX_JOB_ID_LENGTH = 200
# The queue a job is announced in when it does not name one.
DEFAULT_QUEUE = "default"


class Running(NamedTuple):
    """A job being run, with the recorder its log lines are written through."""

    job: Job
    recorder: JobRecorder


_current: contextvars.ContextVar[Running | None] = contextvars.ContextVar("jobpulse_current_job", default=None)

_running_lock = threading.Lock()
_running: list[Running] = []


def _epoch_ns(moment: datetime | float) -> int:
    """Nanoseconds since the epoch of an aware datetime, or of a number of seconds since the epoch."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("queued_at must be an aware datetime (or seconds since the epoch)")
        return round(moment.timestamp() * 1e9)
    return round(float(moment) * 1e9)


def current_job() -> Job | None:
    """The job running in the calling context (thread or asyncio task), or None outside any job."""
    running = _current.get()
    return running.job if running is not None else None


def current_running() -> Running | None:
    """The job running in the calling context with its recorder, or None outside any job."""
    return _current.get()


def sole_running() -> Running | None:
    """The running job, with its recorder, when the process runs exactly one, else None."""
    with _running_lock:
        return _running[0] if len(_running) == 1 else None


def identity_attributes(
    name: str,
    job_type: str | None = None,
    owner: str | None = None,
    expected_duration: float | None = None,
    steps: Sequence[str] = (),
) -> dict[str, Any]:
    """What a start record says about the job, those given among its name, type, owner, duration and steps."""
    attributes: dict[str, Any] = {ATTR_JOB_NAME: name}
    for key, value in (
        (ATTR_JOB_TYPE, job_type),
        (ATTR_JOB_OWNER, owner),
        (ATTR_EXPECTED_DURATION, expected_duration),
        (ATTR_STEP_NAMES, list(steps) or None),
    ):
        if value is not None:
            attributes[key] = value
    return attributes


def announcement_attributes(identity: Mapping[str, Any], queue: str | None, priority: int | None) -> dict[str, Any]:
    """What a queued record says: the job's identity, its queue (`DEFAULT_QUEUE` unless named) and priority."""
    attributes = {**identity, ATTR_QUEUE: queue or DEFAULT_QUEUE}
    if priority is not None:
        attributes[ATTR_PRIORITY] = priority
    return attributes


def end_status(exc: BaseException | None) -> str:
    """How a job or step that ended with `exc` (None: normally) ended."""
    if exc is None:
        return STATUS_COMPLETED
    if isinstance(exc, (JobCancelled, KeyboardInterrupt)):
        return STATUS_CANCELLED
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return STATUS_COMPLETED
    return STATUS_FAILED


class Job:
    """Handle on one run of a job, returned by `track_job` and reachable through `current_job()`.

    Count work with `advance()` (an integer add, cheaper than ``tqdm.update``) or `iter()`; mark phases
    with `step()`; send log lines with `log()` (ordinary `logging` is captured too). A background
    thread turns changes into coalesced progress records, so none of these ever waits on the network.

    Entering the handle starts the run (its start record) and exiting ends it (its end record, whose
    status the exception that ended the block decides); `track_job` does both. A job tracked with
    ``queued=True`` is announced instead when entered, and waits (``pending``) until `start()`. A
    handle made with `inherited` joins a job another process started instead (see `joining`), from
    the moment it is entered: that process owns the job's queue and start, so `start()` does nothing.
    """

    def __init__(
        self,
        runtime: Runtime,
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
        queue: str | None = None,
        priority: int | None = None,
        queued: bool = False,
        queued_at: datetime | float | None = None,
        inherited: Inherited | None = None,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("a job needs a non-empty name")
        if inherited is not None:
            job_id = inherited.job_id
        job_id = job_id or uuid.uuid4().hex
        if len(job_id) > MAX_JOB_ID_LENGTH:
            raise ValueError(f"job_id is longer than {MAX_JOB_ID_LENGTH} characters")
        if "\x00" in job_id:
            raise ValueError("job_id must not contain a NUL character (the sidecar refuses such an id)")
        self._runtime = runtime
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
        self._queued = queued
        self._queued_ns = _epoch_ns(queued_at) if queued_at is not None else None
        self._queue = queue
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
            raise ValueError(f"priority must be an int, got {priority!r}")
        self._priority = priority
        self._attributes = dict(attributes or {})
        self.log_level = log_level  # the lowest `logging` level that becomes this job's log lines
        self._processed = 0
        self._failed = 0
        self._total: int | None = None
        if total is not None:
            self.set_total(total)
        self._checkpoint_armed = False
        self._checkpoint_actions: deque[Callable[[], None]] = deque()
        self._inherited = inherited
        self._recorder = JobRecorder(runtime.telemetry, job_id, self, first_seq=inherited.first_seq if inherited else 1)
        self._control = JobControl(name, arm=self._arm_checkpoint, acknowledge=self._recorder.emit)
        self._started: float | None = None
        self._tracked = False
        self._running = Running(self, self._recorder)
        self._token: contextvars.Token[Running | None] | None = None

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

        Only integer adds: no clock, no lock, no I/O. The delivery thread notices the change.
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
            self._checkpoint_actions.popleft()()

    def _arm_checkpoint(self, action: Callable[[], None]) -> None:
        """Have `action()` run in the job's thread at its next checkpoint (callable from any thread)."""
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
        step = self._recorder.start_step(name, index, len(self._steps))
        try:
            yield
        except BaseException as exc:
            self._end_step(step, end_status(exc), exc)
            raise
        self._end_step(step, STATUS_COMPLETED, None)

    def _end_step(self, step: Step, status: str, exc: BaseException | None) -> None:
        duration = self._recorder.end_step(step, status, exc)
        metrics.step_duration.labels(self._name, step.name).observe(duration)

    def log(self, message: str, level: str | int = "info", **attributes: Any) -> None:
        """Send a log line of this job (``level``: a `logging` level or its name, e.g. ``"warning"``)."""
        if isinstance(level, int):
            levelno = level
        elif (levelno := logging.getLevelNamesMapping().get(level.upper())) is None:
            raise ValueError(f"unknown log level {level!r}")
        self._recorder.line(message, levelno, attributes)

    # -- the run (entered and exited by track_job) ----------------------------------------------

    def start(self) -> None:
        """Start a job tracked with ``queued=True``: it leaves its queue and runs from here.

        A command that came while it waited is obeyed first: a pause blocks here, a cancel raises
        `JobCancelled` (the job then ends as cancelled without having run).
        """
        if not self._queued or (self._started is not None and self._inherited is None):
            raise RuntimeError("start() starts a job tracked with queued=True, once")
        if self._inherited is not None:
            return
        self.checkpoint()
        self._start()

    def __enter__(self) -> Job:
        if self._token is not None or self._recorder.ended:
            raise RuntimeError("a Job handle runs once; track_job makes a new one for every run")
        self._token = _current.set(self._running)
        try:
            if self._inherited is not None:
                # A joined run reports from its first moment: the job's owner queued and started it.
                self._start()
            else:
                if self._queued or self._queued_ns is not None:
                    self._announce()
                if not self._queued:
                    self._start()
        except BaseException:
            _current.reset(self._token)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._finish(exc)
        finally:
            _current.reset(self._token)  # type: ignore[arg-type]

    def _identity(self) -> dict[str, Any]:
        return identity_attributes(self._name, self._type, self._owner, self._expected_duration, self._steps)

    def _announce(self) -> None:
        attributes = announcement_attributes(self._identity(), self._queue, self._priority)
        self._recorder.queued(attributes, time.time_ns() if self._queued_ns is None else self._queued_ns)
        if self._queued:
            # Waiting: it takes commands (a cancel while queued) and heartbeats like a running job.
            self._track()

    def _track(self) -> None:
        if self._tracked:
            return
        self._tracked = True
        with _running_lock:
            _running.append(self._running)
        # The owner of a joined job obeys control commands for it (`jobpulse run` signals the command).
        control = self._control if self._inherited is None else None
        self._runtime.track(self._recorder, control, (self._name, self._type or ""))

    def _start(self) -> None:
        self._started = time.monotonic()
        start_attributes = self._identity()
        span_attributes = {**self._attributes, **start_attributes, ATTR_JOB_ID: self._id}
        if self._inherited is not None:
            self._recorder.join(self._name, self._inherited.parent, span_attributes)
        else:
            self._recorder.start(
                self._name,
                span_attributes,
                {
                    **self._attributes,
                    **start_attributes,
                    ATTR_HEARTBEAT_INTERVAL: self._runtime.settings.resources_interval,
                },
            )
        metrics.job_started(self._name, self._type or "")
        self._track()

    def _finish(self, exc: BaseException | None) -> None:
        status = end_status(exc)
        end_attributes: dict[str, Any] = {}
        if status == STATUS_FAILED:
            end_attributes.update(exception_attributes(exc))  # type: ignore[arg-type]
        if isinstance(exc, JobCancelled) and exc.command_id is not None:
            end_attributes[ATTR_CONTROL_COMMAND] = exc.command_id
        if self._started is not None:
            metrics.job_ended(self._name, self._type or "", status, time.monotonic() - self._started)
        self._runtime.untrack(self._recorder)
        with _running_lock:
            _running.remove(self._running)
        if self._inherited is not None:
            self._recorder.leave(status, exc)
        else:
            self._recorder.end(status, exc, end_attributes)
