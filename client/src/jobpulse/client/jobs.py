"""Jobs as the sidecar describes them: summaries, details, progress, log lines, control commands.

Field for field the JSON the sidecar sends (docs/api.md, docs/live-feed.md); a test holds each Struct
to the sidecar's OpenAPI document. Times are aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

Time = Annotated[datetime, msgspec.Meta(tz=True)]
"""A time the sidecar sends: always with its UTC offset."""

Status = Literal["pending", "running", "paused", "completed", "failed", "cancelled", "lost"]
"""A job's status. ``lost``: nothing heard within its heartbeat window (it may still come back)."""

LogLevel = Literal["debug", "info", "warning", "error", "critical"]

ENDED: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
"""The statuses a job never leaves."""


class StepInfo(msgspec.Struct, frozen=True):
    """The step a job is in: its name, and its place among the job's steps when the job said."""

    name: str
    index: int | None = None
    count: int | None = None


class JobError(msgspec.Struct, frozen=True):
    """Why a job failed. ``stacktrace`` only in a job's detail."""

    type: str | None = None
    message: str | None = None
    step: str | None = None
    stacktrace: str | None = None


class PendingCommand(msgspec.Struct, frozen=True):
    """A control command the job has not acknowledged yet; ``overdue`` past the sidecar's patience."""

    command_id: int
    action: str
    requested_at: Time | None
    requested_by: str | None
    reason: str | None
    waiting_s: float
    overdue: bool


class JobSummary(msgspec.Struct, frozen=True):
    """A job as listed, in snapshots and in status updates."""

    id: str
    name: str | None
    job_type: str | None
    owner: str | None
    status: str
    previous_status: str | None
    processed: int
    failed: int
    successful: int
    total: int | None
    progress_percent: float | None
    step: StepInfo | None
    started_at: Time | None
    updated_at: Time | None
    ended_at: Time | None
    execution_time_s: float | None
    rate_per_s: float | None
    eta_s: float | None
    expected_duration_s: float | None
    memory_rss_bytes: int | None
    cpu_percent: float | None
    host: str | None
    pid: int | None
    service: str | None
    trace_id: str | None
    error: JobError | None
    last_seen_at: Time | None
    pause_requested: bool
    resume_requested: bool
    cancel_requested: bool
    pending_command: PendingCommand | None
    # Jobs announced before they ran (jobpulse.job.queued); all None for the others. ``wait_s`` grows
    # while the job is ``pending`` and is fixed once it starts.
    queue: str | None
    priority: int | None
    queued_at: Time | None
    wait_s: float | None

    @property
    def ended(self) -> bool:
        """Whether the job has ended (completed, failed or cancelled): its figures are final."""
        return self.status in ENDED


class StepTiming(msgspec.Struct, frozen=True):
    """Timings of one step of a job."""

    name: str
    index: int | None
    state: str
    started_at: Time | None
    ended_at: Time | None
    duration_s: float | None
    runs: int


class Resources(msgspec.Struct, frozen=True):
    """A job's latest resource sample."""

    sampled_at: Time
    memory_rss_bytes: int | None
    memory_virtual_bytes: int | None
    cpu_percent: float | None
    threads: int | None
    open_fds: int | None


class LogLine(msgspec.Struct, frozen=True):
    """One log line of a job; ``seq`` orders a job's lines."""

    seq: int
    time: Time
    level: str
    message: str
    logger: str | None = None
    attributes: dict[str, Any] | None = None


class JobHealth(msgspec.Struct, frozen=True):
    """A job's health grade (``excellent``, ``good``, ``fair`` or ``poor``) and the reasons for it."""

    grade: str
    reasons: list[str]


class JobDetail(JobSummary, frozen=True):
    """Everything about one job: the summary, its health grade, steps, resources, log counts, recent lines,
    the full error."""

    health: JobHealth | None
    step_names: list[str] | None
    steps: list[StepTiming]
    resources: Resources | None
    log_counts: dict[str, int]
    recent_logs: list[LogLine]
    attributes: dict[str, Any] | None


class Progress(msgspec.Struct, frozen=True):
    """The fields of a job that move while it runs (the data of a ``job_progress`` message)."""

    id: str
    name: str | None
    job_type: str | None
    status: str
    processed: int
    failed: int
    total: int | None
    progress_percent: float | None
    step: StepInfo | None
    execution_time_s: float | None
    rate_per_s: float | None
    eta_s: float | None
    memory_rss_bytes: int | None
    cpu_percent: float | None
    updated_at: Time | None


class JobStatus(Progress, frozen=True):
    """Where a job is and how fast it goes."""

    previous_status: str | None
    started_at: Time | None
    ended_at: Time | None


class JobMetrics(msgspec.Struct, frozen=True):
    """A job's execution figures."""

    id: str
    status: str
    execution_time_s: float | None
    processed: int
    failed: int
    successful: int
    total: int | None
    error_count: int
    error_rate: float | None
    log_counts: dict[str, int]
    rate_per_s: float | None
    eta_s: float | None
    memory_rss_bytes: int | None
    memory_virtual_bytes: int | None
    cpu_percent: float | None
    threads: int | None
    step_durations_s: dict[str, float]


class JobPage(msgspec.Struct, frozen=True):
    """One page of a job search. ``total`` is exact up to 10,000 (then ``total_exact`` is false)."""

    items: list[JobSummary]
    total: int
    total_exact: bool
    next_cursor: str | None


class LogPage(msgspec.Struct, frozen=True):
    """One page of a job's log lines, in seq order."""

    items: list[LogLine]
    total: int
    next_cursor: str | None


class Command(msgspec.Struct, frozen=True):
    """A control command and what became of it: ``pending``, ``acknowledged``, ``superseded`` or ``expired``."""

    id: int
    job_id: str
    action: str
    reason: str | None
    requested_by: str | None
    requested_at: Time
    state: str
    resolved_at: Time | None


class ControlRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """The body of a pause, resume or cancel request."""

    reason: str | None = None


class CommandList(msgspec.Struct, frozen=True):
    """A job's commands in id order; ``cursor`` is the highest id seen. ``progress_interval_s`` is the
    interval between progress records the sidecar suggests to running jobs (None: each keeps its own)."""

    commands: list[Command]
    cursor: int
    progress_interval_s: float | None = None


class CommandOutcome(msgspec.Struct, frozen=True):
    """What became of a command within the wait: ``outcome`` is its final state, or ``timed_out`` while
    the job had still not acted on it (``command`` is then the pending command as last read)."""

    command: Command
    outcome: Literal["acknowledged", "superseded", "expired", "timed_out"]
