"""JobEvent: one decoded OTLP record, in the shape the fold consumes."""

from __future__ import annotations

from typing import Any

import msgspec

# Announced before the job runs; its seq is a sequence of its own (whoever queued the job numbers its
# announcements), so a scheduler and the process that runs the job need not share a counter.
KIND_QUEUED = "queued"
KIND_START = "start"
KIND_PROGRESS = "progress"
KIND_STEP = "step"
KIND_RESOURCES = "resources"
KIND_PAUSED = "paused"
KIND_RESUMED = "resumed"
KIND_END = "end"
KIND_LOG = "log"
# Emitted by the sidecar itself, never by a job: nothing was heard from the job within its window.
KIND_LOST = "lost"
# Emitted by the sidecar itself: an operator asked the job to pause, resume or cancel. Its seq is the
# command's id, a sequence of its own (the job's seqs are not involved).
KIND_CONTROL = "control"
# What the sidecar says about a job rather than what the job said: it describes a job the store holds
# and never makes one (a replica that never heard from the job would otherwise invent it).
SIDECAR_KINDS = frozenset({KIND_LOST, KIND_CONTROL})

# Every integer a JobEvent carries fits a signed 64-bit column; so do the sums the fold makes of them.
INT64_MAX = 2**63 - 1

LEVELS = ("debug", "info", "warning", "error", "critical")
LEVEL_NUMBERS = {name: index for index, name in enumerate(LEVELS)}


def level_from_severity(number: int, text: str) -> str:
    """Map an OTLP severity number (or, when unset, its text) to one of LEVELS."""
    if number:
        if number <= 8:
            return "debug"
        if number <= 12:
            return "info"
        if number <= 16:
            return "warning"
        if number <= 20:
            return "error"
        return "critical"
    lowered = text.strip().lower()
    if lowered in LEVEL_NUMBERS:
        return lowered
    return {"trace": "debug", "warn": "warning", "err": "error", "fatal": "critical"}.get(lowered, "info")


class JobEvent(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One thing that happened to a job. ``None`` means "this record did not carry the field"."""

    kind: str
    job_id: str
    seq: int
    time_ns: int
    received_ns: int = 0

    name: str | None = None
    job_type: str | None = None
    owner: str | None = None
    expected_duration_s: float | None = None
    heartbeat_interval_s: float | None = None
    step_names: tuple[str, ...] | None = None
    attributes: dict[str, Any] | None = None
    queue: str | None = None
    priority: int | None = None

    service: str | None = None
    host: str | None = None
    pid: int | None = None
    trace_id: str | None = None
    span_id: str | None = None

    processed: int | None = None
    failed: int | None = None
    total: int | None = None

    step: str | None = None
    step_index: int | None = None
    step_count: int | None = None
    step_state: str | None = None
    step_duration_s: float | None = None

    rss_bytes: int | None = None
    vms_bytes: int | None = None
    cpu_utilization: float | None = None
    threads: int | None = None
    open_fds: int | None = None

    status: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_stacktrace: str | None = None

    level: str | None = None
    message: str | None = None
    logger: str | None = None

    # The control command this event acknowledges (from the job), or requests (KIND_CONTROL).
    command_id: int | None = None
    action: str | None = None
    actor: str | None = None
    reason: str | None = None
