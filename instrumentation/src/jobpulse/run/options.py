"""The options of ``jobpulse run``, checked where they are read: a bad value names the option and itself."""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from jobpulse.conventions import MAX_PRIORITY, MAX_QUEUE_LENGTH, MIN_PRIORITY
from jobpulse.schedules import check_cron, is_duration, parse_duration, zone

DEFAULT_CANCEL_GRACE_S = 10.0


@dataclass(frozen=True)
class RunOptions:
    """What to run, and how the job it becomes is named and read."""

    command: tuple[str, ...]
    name: str
    job_type: str | None = None
    owner: str | None = None
    total: int | None = None
    expected_duration: float | None = None
    progress_pattern: re.Pattern[str] | None = None
    progress: bool = True
    step_pattern: re.Pattern[str] | None = None
    log_files: tuple[str, ...] = ()
    cancel_grace: float = DEFAULT_CANCEL_GRACE_S
    queued_ns: int | None = None
    queue: str | None = None
    priority: int | None = None
    endpoint: str | None = None
    verbose: bool = False
    schedule: JobSchedule | None = None


@dataclass(frozen=True)
class JobSchedule:
    """When the job is expected to run: a cron expression or an interval, read in ``timezone``, and how
    late a run may start before it counts as missed (``grace``; None leaves it to the sidecar)."""

    cron: str | None = None
    every: float | None = None
    timezone: str = "UTC"
    grace: float | None = None


def parser() -> argparse.ArgumentParser:
    """The ``jobpulse run`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="jobpulse run",
        usage="jobpulse run [options] -- CMD [ARGS...]",
        description=(
            "Run CMD as a watched job: its output still reaches the terminal unchanged and its exit code "
            "is this command's, while the job's progress, log lines, resources and end go to the jobpulse "
            "sidecar (OTEL_EXPORTER_OTLP_ENDPOINT, default http://127.0.0.1:4318), which can pause, resume "
            "and cancel it. See docs/run.md."
        ),
    )
    identity = parser.add_argument_group("the job")
    identity.add_argument("--name", help="the job's name (default: CMD's base name)")
    identity.add_argument("--type", dest="job_type", metavar="TYPE", help="the family of jobs it belongs to")
    identity.add_argument("--owner", help="the user or team that owns it")
    identity.add_argument("--total", type=_count, help="records it is expected to handle in all")
    identity.add_argument(
        "--expected-duration", type=_duration, metavar="DURATION", help="how long it should take: 90, 90s, 15m, 1h30m"
    )
    queueing = parser.add_argument_group("its wait, when a scheduler queued it")
    queueing.add_argument(
        "--queued-at",
        dest="queued_ns",
        type=_moment,
        metavar="TIME",
        help=(
            "when the run was queued: an ISO 8601 time with a timezone (2024-05-01T02:15:00Z) or seconds since "
            "the epoch; the job reports its wait, its start minus this"
        ),
    )
    queueing.add_argument(
        "--queue", type=_queue, metavar="NAME", help='the queue it waited in (default "default"; with --queued-at only)'
    )
    queueing.add_argument(
        "--priority", type=_priority, metavar="N", help="its priority in that queue, an integer (with --queued-at only)"
    )
    reading = parser.add_argument_group("reading its output")
    reading.add_argument(
        "--progress-regex",
        type=_progress_pattern,
        metavar="REGEX",
        help="progress in a line, with named groups done, total and/or percent (replaces the built-in patterns)",
    )
    reading.add_argument(
        "--no-progress", dest="progress", action="store_false", help="read no progress from the output"
    )
    reading.add_argument(
        "--step-regex",
        type=_step_pattern,
        metavar="REGEX",
        help="a line that starts a step; the step's name is the group named step, else the first group, else the match",
    )
    reading.add_argument(
        "--log-file",
        dest="log_files",
        action="append",
        default=[],
        metavar="PATH",
        help="also follow this file's lines, through rotation and truncation (repeatable)",
    )
    timing = parser.add_argument_group("when it runs (the sidecar alerts when a run does not start in time)")
    timing.add_argument(
        "--schedule",
        type=_schedule,
        metavar="CRON|INTERVAL",
        help='its schedule: a cron expression ("*/5 * * * *", six fields with seconds first) or an interval (15m)',
    )
    timing.add_argument(
        "--grace", type=_duration, metavar="DURATION", help="how late a run may start before it is missed: 10m"
    )
    timing.add_argument(
        "--schedule-timezone",
        type=_timezone,
        default="UTC",
        metavar="ZONE",
        help="the time zone the cron expression is read in (default UTC)",
    )
    running = parser.add_argument_group("running it")
    running.add_argument(
        "--cancel-grace",
        type=_seconds,
        default=DEFAULT_CANCEL_GRACE_S,
        metavar="SECONDS",
        help=f"after a cancel's SIGTERM, how long before SIGKILL (default {DEFAULT_CANCEL_GRACE_S:g})",
    )
    running.add_argument("--endpoint", metavar="URL", help="the sidecar, instead of OTEL_EXPORTER_OTLP_ENDPOINT")
    running.add_argument(
        "-v", "--verbose", action="store_true", help="report delivery problems on stderr (by default it adds nothing)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    return parser


def parse(argv: Sequence[str]) -> RunOptions:
    """Read the arguments after ``jobpulse run``; a bad one exits with status 2 and a message naming it."""
    read = parser()
    values = read.parse_args(list(argv))
    # The command starts at the first argument that is not an option of ours, or after "--".
    command = values.command[1:] if values.command[:1] == ["--"] else values.command
    if not command:
        read.error("no command given: jobpulse run [options] -- CMD [ARGS...]")
    if values.queued_ns is None:
        for flag, value in (("--queue", values.queue), ("--priority", values.priority)):
            if value is not None:
                read.error(
                    f"argument {flag}: needs --queued-at TIME, when the run was queued; got {value!r} without it"
                )
    schedule = values.schedule
    if schedule is None and values.grace is not None:
        read.error("argument --grace: needs --schedule")
    if schedule is not None:
        schedule = JobSchedule(schedule.cron, schedule.every, values.schedule_timezone, values.grace)
    return RunOptions(
        command=tuple(command),
        name=values.name or os.path.basename(command[0]) or command[0],
        job_type=values.job_type,
        owner=values.owner,
        total=values.total,
        expected_duration=values.expected_duration,
        progress_pattern=values.progress_regex,
        progress=values.progress,
        step_pattern=values.step_regex,
        log_files=tuple(values.log_files),
        cancel_grace=values.cancel_grace,
        queued_ns=values.queued_ns,
        queue=values.queue,
        priority=values.priority,
        endpoint=values.endpoint,
        verbose=values.verbose,
        schedule=schedule,
    )


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number of records, 0 or more, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text!r}")
    return value


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _schedule(text: str) -> JobSchedule:
    if is_duration(text):
        every = parse_duration(text)
        if every <= 0:
            raise argparse.ArgumentTypeError(f"an interval must be longer than 0 seconds, got {text!r}")
        return JobSchedule(every=every)
    try:
        check_cron(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"is neither an interval such as 15m nor a cron expression: {error}") from None
    return JobSchedule(cron=text)


def _timezone(text: str) -> str:
    try:
        zone(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _moment(text: str) -> int:
    """Nanoseconds since the epoch of an ISO 8601 time with a timezone, or of a number of seconds since the epoch."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise argparse.ArgumentTypeError(
                f"must be an ISO 8601 time with a timezone, such as 2024-05-01T02:15:00Z or "
                f"2024-05-01T04:15:00+02:00, or seconds since the epoch, got {text!r}"
            ) from None
        return round(moment.timestamp() * 1e9)
    try:
        # A time in milliseconds lands tens of thousands of years ahead: past what a datetime holds.
        datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise argparse.ArgumentTypeError(f"must be seconds since the epoch (not milliseconds), 0 or more, got {text!r}")
    return round(seconds * 1e9)


def _queue(text: str) -> str:
    if not 1 <= len(text) <= MAX_QUEUE_LENGTH:
        raise argparse.ArgumentTypeError(f"must be a name of 1 to {MAX_QUEUE_LENGTH} characters, got {text!r}")
    return text


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise argparse.ArgumentTypeError(f"must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}, got {text!r}")
    return value


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"is not a regular expression ({error}): {text!r}") from None


def _progress_pattern(text: str) -> re.Pattern[str]:
    pattern = _regex(text)
    if not {"done", "percent"} & set(pattern.groupindex):
        raise argparse.ArgumentTypeError(f"needs a named group done or percent, as in (?P<done>\\d+), got {text!r}")
    return pattern


def _step_pattern(text: str) -> re.Pattern[str]:
    return _regex(text)
