"""Times as the sidecar keeps them (integer nanoseconds since the epoch) and as it shows them (datetimes).

Every time in job state and in storage is nanoseconds since the epoch; REST, the live feed and
notifications show aware UTC datetimes. A datetime without a UTC offset is taken as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_datetime(ns: int | None) -> datetime | None:
    """Nanoseconds since the epoch to an aware UTC datetime (None stays None)."""
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC)


def to_ns(moment: datetime) -> int:
    """``moment`` in nanoseconds since the epoch, exactly: unbounded (``api/bounds.py`` clamps to storage)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND * 1000
