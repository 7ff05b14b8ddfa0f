"""JobState: everything the sidecar knows about one job, as folded from its events.

The state is immutable; the fold returns a new one. Immutable values cannot form reference cycles,
so these Structs opt out of the cyclic garbage collector (``gc=False``): with thousands of job states
alive, collector passes over them were a large share of ingest time.

Each group of fields remembers the seq of the event that set it (a last-writer-wins register keyed by
seq), which is what makes the fold independent of arrival order and duplication.
"""

from __future__ import annotations

from typing import Any

import msgspec

from jobpulse.conventions import STEP_COMPLETED, STEP_FAILED

PENDING = "pending"
RUNNING = "running"
PAUSED = "paused"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
LOST = "lost"

STATUSES = (PENDING, RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED, LOST)
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED})
ACTIVE_STATUSES = frozenset({PENDING, RUNNING, PAUSED, LOST})


class StepTiming(msgspec.Struct, frozen=True, gc=False):
    """Aggregated timings of one named step; a step that runs several times sums its durations.

    Durations are summed as integer nanoseconds: float addition depends on order, integer addition
    does not, and the fold must not.
    """

    name: str
    index: int | None = None
    started_ns: int | None = None
    ended_ns: int | None = None
    duration_ns: int = 0
    starts: int = 0
    ends: int = 0
    failed: bool = False

    @property
    def state(self) -> str:
        # A step that has started and not ended is running, as a job is.
        if self.failed:
            return STEP_FAILED
        if self.starts > self.ends:
            return RUNNING
        return STEP_COMPLETED if self.ends else RUNNING


class ErrorInfo(msgspec.Struct, frozen=True, gc=False):
    """Why a job failed."""

    type: str | None = None
    message: str | None = None
    stacktrace: str | None = None
    step: str | None = None


class LogLine(msgspec.Struct, frozen=True, gc=False):
    """One job log line."""

    seq: int
    time_ns: int
    level: str
    message: str
    logger: str | None = None
    attributes: dict[str, Any] | None = None


class Resources(msgspec.Struct, frozen=True, gc=False):
    """The latest resource sample of the job's process."""

    time_ns: int
    rss_bytes: int | None = None
    vms_bytes: int | None = None
    cpu_utilization: float | None = None
    threads: int | None = None
    open_fds: int | None = None


class Figures(msgspec.Struct, frozen=True, gc=False):
    """The fields an end freezes: counts, current step, step timings, resources, status events.

    Once a job has ended they are what the events up to its end made them; records with a higher
    seq may still add log lines, nothing here.
    """

    # Top two (seq, status) pairs among start/paused/resumed events, highest seq first.
    status_register: tuple[tuple[int, str], ...] = ()

    processed: int = 0
    counts_seq: int = 0
    failed: int = 0
    failed_seq: int = 0
    total: int | None = None
    total_seq: int = 0

    step: str | None = None
    step_index: int | None = None
    step_count: int | None = None
    step_seq: int = 0
    steps: tuple[StepTiming, ...] = ()

    resources: Resources | None = None
    resources_seq: int = 0

    # The newest (seq, time_ns, processed) samples, ascending by seq: the window the rate comes from.
    samples: tuple[tuple[int, int, int], ...] = ()


class Checkpoint(Figures, frozen=True, gc=False, kw_only=True):
    """The figures folded over a job's events with seq <= ``upto``."""

    upto: int


class JobState(Figures, frozen=True, gc=False, kw_only=True):
    """The folded state of one job. Build it only through :func:`jobpulse.sidecar.model.fold.fold`."""

    id: str
    status: str = RUNNING
    previous_status: str | None = None

    name: str | None = None
    job_type: str | None = None
    owner: str | None = None
    expected_duration_s: float | None = None
    heartbeat_interval_s: float | None = None
    step_names: tuple[str, ...] | None = None
    attributes: dict[str, Any] | None = None
    ident_seq: int = 0

    # From the queued announcement with the lowest seq (announcements number their own seqs): the
    # queue the job waited in, its priority there, and when it was queued (the announcer's clock).
    queue: str | None = None
    priority: int | None = None
    queued_ns: int | None = None
    queued_seq: int = 0

    service: str | None = None
    host: str | None = None
    pid: int | None = None
    origin_seq: int = 0

    trace_id: str | None = None
    span_id: str | None = None
    trace_seq: int = 0

    end_seq: int = 0
    end_status: str | None = None
    error: ErrorInfo | None = None
    lost_seq: int = 0

    # The newest control command (by id) and the newest command the job acknowledged: a command is
    # pending while control_id > control_ack_id and the job has not ended.
    control_id: int = 0
    control_action: str | None = None
    control_requested_ns: int | None = None
    control_actor: str | None = None
    control_reason: str | None = None
    control_ack_id: int = 0

    logs: tuple[LogLine, ...] = ()
    log_counts: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    # Every seq seen, as sorted disjoint inclusive ranges: exact duplicate detection in O(1) for
    # in-order arrival, which keeps counters such as log_counts exact under redelivery.
    seen: tuple[tuple[int, int], ...] = ()
    max_seq: int = 0
    # The figures as of the top of each seen range but the last, below the end: what the figures
    # were before a gap, should the job's end turn out to lie in it.
    checkpoints: tuple[Checkpoint, ...] = ()

    started_ns: int | None = None
    start_seq: int = 0
    ended_ns: int | None = None
    first_ns: int | None = None
    last_ns: int | None = None
    last_seen_ns: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def begun_ns(self) -> int | None:
        """When the job started, or when it was first heard of if its start event has not arrived;
        None for a job that was queued and has not run (it waits, or ended while waiting)."""
        if self.started_ns is not None:
            return self.started_ns
        if self.never_ran:
            return None
        return self.first_ns

    @property
    def never_ran(self) -> bool:
        """Queued, and neither started, paused nor resumed (yet)."""
        return bool(self.queued_seq) and not self.status_register

    @property
    def pending_action(self) -> str | None:
        """The control action requested and not yet acknowledged, if any."""
        if self.control_id > self.control_ack_id and not self.is_terminal:
            return self.control_action
        return None

    @property
    def successful(self) -> int:
        return max(self.processed - self.failed, 0)
