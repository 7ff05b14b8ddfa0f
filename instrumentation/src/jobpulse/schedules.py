"""When a job is expected to run: cron expressions, intervals and durations, checked and stepped through.

A plain module both sides import: ``jobpulse run --schedule`` checks a schedule before the command
starts, and the sidecar computes when a scheduled job is due. Cron expressions are cronsim's (five
fields, or six with seconds first); stepping through them happens in the schedule's own time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

_NS = 1_000_000_000
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``15m``, ``1h30m``, ``2d``; ValueError naming the text otherwise."""
    stripped = text.strip()
    parts = list(_DURATION_PART.finditer(stripped))
    if not parts or "".join(part.group() for part in parts) != stripped:
        raise ValueError(f"must be seconds or a duration such as 90s, 15m, 1h30m, got {text!r}")
    return sum(float(number) * _SECONDS[unit] for number, unit in (part.groups() for part in parts))


def is_duration(text: str) -> bool:
    """Whether ``text`` reads as a duration (an interval schedule) rather than a cron expression."""
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError naming it when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone, such as UTC or Europe/Berlin") from None


def check_cron(expression: str) -> None:
    """ValueError naming ``expression`` and what is wrong with it, when cronsim cannot read it."""
    try:
        CronSim(expression, datetime.now(UTC))
    except CronSimError as error:
        raise ValueError(f"{expression!r} is not a cron expression: {str(error).lower()}") from None


def next_fire_ns(expression: str, time_zone: str, after_ns: int) -> int:
    """The first time ``expression`` fires strictly after ``after_ns``, read in ``time_zone``."""
    after = datetime.fromtimestamp(after_ns / _NS, zone(time_zone))
    return int(next(CronSim(expression, after)).timestamp()) * _NS
