"""A job's health grade from its error rate and its speed: excellent, good, fair or poor.

The web console grades jobs by the same rule (console/static/js/health.js, docs/console.md); a test
holds the two to the same thresholds.
"""

from __future__ import annotations

from typing import NamedTuple

from jobpulse.sidecar.model.state import FAILED, LOST, PAUSED, RUNNING

GRADES = ("excellent", "good", "fair", "poor")

ERROR_RATE_LIMITS = (0.001, 0.01, 0.05)
"""failed / processed at or below each limit: excellent, good, fair; above the last: poor."""

PACE_LIMITS = (1.0, 1.2, 1.5)
"""Projected duration / expected duration at or below each limit: excellent, good, fair; above: poor."""


class Health(NamedTuple):
    """A grade and the reasons behind it, worst measure first in ``grade``."""

    grade: str
    reasons: tuple[str, ...]


def _classify(value: float, limits: tuple[float, ...]) -> int:
    return next((index for index, limit in enumerate(limits) if value <= limit), len(GRADES) - 1)


def health(
    status: str,
    processed: int,
    failed: int,
    execution_time_s: float | None,
    eta_s: float | None,
    expected_duration_s: float | None,
    rate_per_s: float | None,
) -> Health | None:
    """The grade of a job with these figures, or None when there is nothing to judge yet.

    A failed or lost job is poor. The error rate counts once something was processed. With an expected
    duration, the projected duration (elapsed + ETA while running, elapsed once ended) over the expected
    one grades the speed; without one, a running job that processed records but moves no more is fair
    at best. The grade is the worse of the two.
    """
    if status in (FAILED, LOST):
        return Health("poor", ("the job was lost" if status == LOST else "the job failed",))
    marks: list[int] = []
    reasons: list[str] = []
    if processed > 0:
        error_rate = failed / processed
        marks.append(_classify(error_rate, ERROR_RATE_LIMITS))
        reasons.append(f"{error_rate * 100:.2f} % of records failed")
    running = status in (RUNNING, PAUSED)
    if expected_duration_s and expected_duration_s > 0 and execution_time_s is not None:
        projected = execution_time_s + eta_s if running and eta_s is not None else execution_time_s
        pace = projected / expected_duration_s
        marks.append(_classify(pace, PACE_LIMITS))
        reasons.append(f"{'on course for' if running else 'took'} {round(pace * 100)} % of its expected duration")
    elif status == RUNNING and processed > 0 and rate_per_s == 0:
        marks.append(GRADES.index("fair"))
        reasons.append("not advancing")
    if not marks:
        return None
    return Health(GRADES[max(marks)], tuple(reasons))
