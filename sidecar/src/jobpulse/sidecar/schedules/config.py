"""The ``[[schedules]]`` entries of the settings: a job name or type, when it runs, and its grace."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from jobpulse.schedules import check_cron, parse_duration, zone

# How late a run may start before it is missed, when neither the settings nor the job say.
DEFAULT_GRACE_S = 300.0

JOB_NAME = "job_name"
JOB_TYPE = "job_type"
Match = Literal["job_name", "job_type"]

# Seconds, or a duration such as "15m" or "1h30m".
Duration = float | str


def seconds(field: str, value: Duration) -> float:
    """``value`` in seconds; ValueError starting with ``field`` (so the error names the key)."""
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as error:
            raise ValueError(f"{field}: {error}") from None
    return float(value)


class ScheduleConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One expected run pattern: the jobs it is about (by name, or by type with ``match = "job_type"``),
    a ``cron`` expression or an ``every`` interval, the ``timezone`` the expression is read in, and the
    ``grace`` a run may start late before ``job_missed`` fires."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    match: Match = JOB_NAME
    cron: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    every: Duration | None = None
    timezone: str = "UTC"
    grace: Duration = DEFAULT_GRACE_S

    def __post_init__(self) -> None:
        if self.cron is None and self.every is None:
            raise ValueError("cron: a schedule needs a cron expression or an `every` interval")
        if self.cron is not None and self.every is not None:
            raise ValueError("every: a schedule has a cron expression or an `every` interval, not both")
        if self.cron is not None:
            try:
                check_cron(self.cron)
            except ValueError as error:
                raise ValueError(f"cron: {error}") from None
        if self.every is not None and seconds("every", self.every) <= 0:
            raise ValueError(f"every: must be longer than 0 seconds, got {self.every!r}")
        try:
            zone(self.timezone)
        except ValueError as error:
            raise ValueError(f"timezone: {error}") from None
        if seconds("grace", self.grace) < 0:
            raise ValueError(f"grace: must be 0 seconds or more, got {self.grace!r}")

    @property
    def every_s(self) -> float | None:
        return None if self.every is None else seconds("every", self.every)

    @property
    def grace_s(self) -> float:
        return seconds("grace", self.grace)


def check_unique(schedules: list[ScheduleConfig]) -> None:
    """ValueError naming the first job name or type given two schedules."""
    seen: set[tuple[str, str]] = set()
    for schedule in schedules:
        subject = (schedule.match, schedule.name)
        if subject in seen:
            raise ValueError(f"schedules: two schedules are for {schedule.match} {schedule.name!r}")
        seen.add(subject)
