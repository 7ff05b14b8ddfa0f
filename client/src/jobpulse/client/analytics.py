"""History analytics: how job types, names and steps fare over a period (docs/storage.md)."""

from __future__ import annotations

import msgspec

from jobpulse.client.jobs import Time


class Durations(msgspec.Struct, frozen=True):
    """Statistics of durations (or waits) in seconds (None without finished runs, or waits)."""

    p50: float | None
    p95: float | None
    max: float | None
    mean: float | None


class TrendPoint(msgspec.Struct, frozen=True):
    """Runs and records of one hour or day.

    ``completed_runs / ended_runs`` is the bucket's success rate, as ``GroupStats.success_rate`` is
    taken (none while nothing ended); ``failure_rate`` is failed runs over all runs, running ones included.
    """

    bucket_start: Time
    runs: int
    failed_runs: int
    failure_rate: float
    completed_runs: int
    ended_runs: int
    records_processed: int
    records_failed: int
    record_error_rate: float | None


class GroupStats(msgspec.Struct, frozen=True):
    """One job type (or name): runs by outcome, success rate, durations, queue waits, throughput and trend."""

    key: str | None
    runs: int
    completed: int
    failed: int
    cancelled: int
    lost: int
    active: int
    success_rate: float | None
    duration_s: Durations
    # How many of the group's queued jobs waited before they started (or ended unstarted), and how long.
    waited: int
    wait_s: Durations
    records_processed: int
    records_failed: int
    records_per_s: float | None
    trend: list[TrendPoint]


class ErrorPattern(msgspec.Struct, frozen=True):
    """Failures grouped by exception type."""

    error_type: str | None
    count: int
    last_seen: Time | None
    example_message: str | None
    job_names: list[str]


class Analytics(msgspec.Struct, frozen=True):
    """Job analytics over ``since``..``until``, grouped by ``group_by`` with a trend per ``bucket``."""

    since: Time
    until: Time
    group_by: str
    bucket: str
    groups: list[GroupStats]
    errors: list[ErrorPattern]


class StepStats(msgspec.Struct, frozen=True):
    """Durations of one step across a job's runs; ``bottleneck`` marks the step that takes longest."""

    name: str
    index: int | None
    runs: int
    failed: int
    duration_s: Durations
    share_of_total: float | None
    bottleneck: bool


class StepAnalytics(msgspec.Struct, frozen=True):
    """Per-step statistics of one job name."""

    job_name: str
    since: Time
    until: Time
    steps: list[StepStats]
