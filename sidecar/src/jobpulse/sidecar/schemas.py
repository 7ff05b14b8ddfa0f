"""What REST and the live feed say about a job: the response Structs, built from a JobState at a time.

``GET /api/jobs...``, ``GET /api/monitor/jobs`` and the feed's ``snapshot``, ``job_status_update``,
``job_progress`` and ``job_log`` messages all send these, so a job reads the same everywhere. The
figures in them (rate, ETA, progress, execution time) come from :mod:`jobpulse.sidecar.model.figures`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from jobpulse.sidecar.model.events import LEVELS
from jobpulse.sidecar.model.figures import (
    cpu_percent,
    eta_s,
    execution_time_s,
    progress_percent,
    rate_per_s,
    wait_s,
)
from jobpulse.sidecar.model.health import health
from jobpulse.sidecar.model.state import JobState, LogLine, StepTiming
from jobpulse.sidecar.timestamps import to_datetime


class StepInfo(msgspec.Struct, frozen=True):
    """The step a job is in."""

    name: str
    index: int | None = None
    count: int | None = None


class ErrorView(msgspec.Struct, frozen=True, omit_defaults=True):
    """Why a job failed."""

    type: str | None = None
    message: str | None = None
    step: str | None = None
    stacktrace: str | None = None


class ControlView(msgspec.Struct, frozen=True):
    """A control command the job has not acknowledged yet."""

    command_id: int
    action: str
    requested_at: datetime | None
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
    started_at: datetime | None
    updated_at: datetime | None
    ended_at: datetime | None
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
    error: ErrorView | None
    last_seen_at: datetime | None
    pause_requested: bool
    resume_requested: bool
    cancel_requested: bool
    pending_command: ControlView | None
    # Jobs announced before they ran (jobpulse.job.queued); all None for the others.
    queue: str | None
    priority: int | None
    queued_at: datetime | None
    wait_s: float | None


class ProgressView(msgspec.Struct, frozen=True):
    """The fields of a job that move while it runs: the body of ``job_progress`` messages."""

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
    updated_at: datetime | None


class StepView(msgspec.Struct, frozen=True):
    """Timings of one step."""

    name: str
    index: int | None
    state: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    runs: int


class LogView(msgspec.Struct, frozen=True, omit_defaults=True):
    """One job log line."""

    seq: int
    time: datetime
    level: str
    message: str
    logger: str | None = None
    attributes: dict[str, Any] | None = None


class ResourcesView(msgspec.Struct, frozen=True):
    """The latest resource sample."""

    sampled_at: datetime
    memory_rss_bytes: int | None
    memory_virtual_bytes: int | None
    cpu_percent: float | None
    threads: int | None
    open_fds: int | None


class HealthView(msgspec.Struct, frozen=True):
    """The job's health grade (excellent, good, fair, poor) from its error rate and speed, and why."""

    grade: str
    reasons: tuple[str, ...]


class JobDetail(JobSummary, frozen=True):
    """Everything about one job."""

    health: HealthView | None
    step_names: tuple[str, ...] | None
    steps: tuple[StepView, ...]
    resources: ResourcesView | None
    log_counts: dict[str, int]
    recent_logs: tuple[LogView, ...]
    attributes: dict[str, Any] | None


def _step_info(state: JobState) -> StepInfo | None:
    if state.step is None:
        return None
    return StepInfo(name=state.step, index=state.step_index, count=state.step_count)


def control_view(state: JobState, now_ns: int, ack_timeout_s: float) -> ControlView | None:
    """The pending control command; ``overdue`` once the job has not answered for ``ack_timeout_s``."""
    action = state.pending_action
    if action is None:
        return None
    waiting = max(now_ns - (state.control_requested_ns or now_ns), 0) / 1e9
    return ControlView(
        command_id=state.control_id,
        action=action,
        requested_at=to_datetime(state.control_requested_ns),
        requested_by=state.control_actor,
        reason=state.control_reason,
        waiting_s=round(waiting, 3),
        overdue=waiting > ack_timeout_s,
    )


def summary(state: JobState, now_ns: int, ack_timeout_s: float) -> JobSummary:
    """The JobSummary of ``state`` at ``now_ns``."""
    rate = rate_per_s(state, now_ns)
    error = state.error
    pending = state.pending_action
    return JobSummary(
        id=state.id,
        name=state.name,
        job_type=state.job_type,
        owner=state.owner,
        status=state.status,
        previous_status=state.previous_status,
        processed=state.processed,
        failed=state.failed,
        successful=state.successful,
        total=state.total,
        progress_percent=progress_percent(state),
        step=_step_info(state),
        started_at=to_datetime(state.begun_ns),
        updated_at=to_datetime(state.last_ns),
        ended_at=to_datetime(state.ended_ns),
        execution_time_s=execution_time_s(state, now_ns),
        rate_per_s=rate,
        eta_s=eta_s(state, rate),
        expected_duration_s=state.expected_duration_s,
        memory_rss_bytes=state.resources.rss_bytes if state.resources else None,
        cpu_percent=cpu_percent(state),
        host=state.host,
        pid=state.pid,
        service=state.service,
        trace_id=state.trace_id,
        error=ErrorView(type=error.type, message=error.message, step=error.step) if error else None,
        last_seen_at=to_datetime(state.last_seen_ns or None),
        pause_requested=pending == "pause",
        resume_requested=pending == "resume",
        cancel_requested=pending == "cancel",
        pending_command=control_view(state, now_ns, ack_timeout_s),
        queue=state.queue,
        priority=state.priority,
        queued_at=to_datetime(state.queued_ns),
        wait_s=wait_s(state, now_ns),
    )


def progress(state: JobState, now_ns: int) -> ProgressView:
    """The ProgressView of ``state`` at ``now_ns``."""
    rate = rate_per_s(state, now_ns)
    return ProgressView(
        id=state.id,
        name=state.name,
        job_type=state.job_type,
        status=state.status,
        processed=state.processed,
        failed=state.failed,
        total=state.total,
        progress_percent=progress_percent(state),
        step=_step_info(state),
        execution_time_s=execution_time_s(state, now_ns),
        rate_per_s=rate,
        eta_s=eta_s(state, rate),
        memory_rss_bytes=state.resources.rss_bytes if state.resources else None,
        cpu_percent=cpu_percent(state),
        updated_at=to_datetime(state.last_ns),
    )


def log_view(line: LogLine) -> LogView:
    return LogView(
        seq=line.seq,
        time=to_datetime(line.time_ns),
        level=line.level,
        message=line.message,
        logger=line.logger,
        attributes=line.attributes,
    )


def _step_view(timing: StepTiming) -> StepView:
    return StepView(
        name=timing.name,
        index=timing.index,
        state=timing.state,
        started_at=to_datetime(timing.started_ns),
        ended_at=to_datetime(timing.ended_ns),
        duration_s=timing.duration_ns / 1e9 if timing.ends else None,
        runs=max(timing.starts, timing.ends),
    )


def detail(state: JobState, now_ns: int, ack_timeout_s: float) -> JobDetail:
    """The JobDetail of ``state`` at ``now_ns``."""
    base = msgspec.structs.asdict(summary(state, now_ns, ack_timeout_s))
    error = state.error
    if error is not None:
        base["error"] = ErrorView(type=error.type, message=error.message, step=error.step, stacktrace=error.stacktrace)
    resources = state.resources
    graded = health(
        state.status,
        state.processed,
        state.failed,
        base["execution_time_s"],
        base["eta_s"],
        base["expected_duration_s"],
        base["rate_per_s"],
    )
    return JobDetail(
        **base,
        health=HealthView(graded.grade, graded.reasons) if graded else None,
        step_names=state.step_names,
        steps=tuple(_step_view(timing) for timing in state.steps),
        resources=ResourcesView(
            sampled_at=to_datetime(resources.time_ns),
            memory_rss_bytes=resources.rss_bytes,
            memory_virtual_bytes=resources.vms_bytes,
            cpu_percent=cpu_percent(state),
            threads=resources.threads,
            open_fds=resources.open_fds,
        )
        if resources
        else None,
        log_counts=dict(zip(LEVELS, state.log_counts, strict=True)),
        recent_logs=tuple(log_view(line) for line in state.logs),
        attributes=state.attributes,
    )


class JobStatusView(ProgressView, frozen=True):
    """``GET /api/jobs/{id}/status``: where the job is and how fast it goes."""

    previous_status: str | None
    started_at: datetime | None
    ended_at: datetime | None


class JobMetricsView(msgspec.Struct, frozen=True):
    """``GET /api/jobs/{id}/metrics``: execution figures."""

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


def status_view(state: JobState, now_ns: int) -> JobStatusView:
    """The JobStatusView of ``state`` at ``now_ns``."""
    base = msgspec.structs.asdict(progress(state, now_ns))
    return JobStatusView(
        **base,
        previous_status=state.previous_status,
        started_at=to_datetime(state.begun_ns),
        ended_at=to_datetime(state.ended_ns),
    )


def metrics_view(state: JobState, now_ns: int) -> JobMetricsView:
    """The JobMetricsView of ``state`` at ``now_ns``."""
    rate = rate_per_s(state, now_ns)
    resources = state.resources
    error_logs = state.log_counts[LEVELS.index("error")] + state.log_counts[LEVELS.index("critical")]
    return JobMetricsView(
        id=state.id,
        status=state.status,
        execution_time_s=execution_time_s(state, now_ns),
        processed=state.processed,
        failed=state.failed,
        successful=state.successful,
        total=state.total,
        error_count=state.failed + error_logs,
        error_rate=round(state.failed / state.processed, 6) if state.processed else None,
        log_counts=dict(zip(LEVELS, state.log_counts, strict=True)),
        rate_per_s=rate,
        eta_s=eta_s(state, rate),
        memory_rss_bytes=resources.rss_bytes if resources else None,
        memory_virtual_bytes=resources.vms_bytes if resources else None,
        cpu_percent=cpu_percent(state),
        threads=resources.threads if resources else None,
        step_durations_s={timing.name: timing.duration_ns / 1e9 for timing in state.steps if timing.ends},
    )
