"""What storage can hold, applied to request values before they reach it.

Counts, ids, cursors and times (nanoseconds since the epoch) are stored as signed 64-bit integers,
so times run from 1677-09-21 to 2262-04-11. A value past that is a 4xx naming it, or, for a filter
bound, is clamped: no stored value lies outside the range, so the clamped bound selects the same.
A datetime without a UTC offset is taken as UTC.
"""

from __future__ import annotations

from datetime import datetime

from jobpulse.sidecar.timestamps import to_ns

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def bound_ns(moment: datetime | None) -> int | None:
    """A filter bound in nanoseconds, clamped to the storable range (None stays None)."""
    return None if moment is None else min(max(to_ns(moment), INT64_MIN), INT64_MAX)
