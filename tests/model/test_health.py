"""The health grade: its rule, its thresholds shared with the console, and its place in the job detail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobpulse.sidecar.model.fold import fold
from jobpulse.sidecar.model.health import ERROR_RATE_LIMITS, GRADES, PACE_LIMITS, health
from jobpulse.sidecar.schemas import detail
from tests.support.job_events import run

CONSOLE_RULE = Path(__file__).parents[2] / "sidecar/src/jobpulse/sidecar/console/static/js/health.js"


def js_numbers(name: str) -> tuple[float, ...]:
    found = re.search(rf"export const {name} = \[([^\]]*)\]", CONSOLE_RULE.read_text())
    assert found, name
    return tuple(float(value) for value in found.group(1).split(","))


def test_the_console_grades_by_the_same_thresholds():
    assert js_numbers("ERROR_RATE_LIMITS") == ERROR_RATE_LIMITS
    assert js_numbers("PACE_LIMITS") == PACE_LIMITS
    grades = re.search(r"export const GRADES = \[([^\]]*)\]", CONSOLE_RULE.read_text())
    assert tuple(value.strip(" '\"") for value in grades.group(1).split(",")) == GRADES


@pytest.mark.parametrize(
    ("figures", "grade"),
    [
        ({"status": "failed", "processed": 100, "failed": 0}, "poor"),
        ({"status": "lost", "processed": 0, "failed": 0}, "poor"),
        ({"status": "completed", "processed": 1000, "failed": 1}, "excellent"),
        ({"status": "completed", "processed": 1000, "failed": 10}, "good"),
        ({"status": "completed", "processed": 1000, "failed": 50}, "fair"),
        ({"status": "completed", "processed": 1000, "failed": 51}, "poor"),
        # On course for 60 + 60 s of an expected 100 s: 120 %, good.
        (
            {
                "status": "running",
                "processed": 10,
                "execution_time_s": 60.0,
                "eta_s": 60.0,
                "expected_duration_s": 100.0,
            },
            "good",
        ),
        # The worse of the two: no errors, but ended at 200 % of its expected duration.
        ({"status": "completed", "processed": 10, "execution_time_s": 200.0, "expected_duration_s": 100.0}, "poor"),
        ({"status": "running", "processed": 10, "rate_per_s": 0.0}, "fair"),
    ],
)
def test_grades(figures, grade):
    arguments = {"failed": 0, "execution_time_s": None, "eta_s": None, "expected_duration_s": None, "rate_per_s": None}
    graded = health(**{**arguments, **figures})
    assert graded is not None and graded.grade == grade, graded


def test_nothing_to_judge_yet():
    assert health("running", 0, 0, 1.0, None, None, None) is None


def test_the_job_detail_carries_the_grade():
    state = None
    for event in run(name="graded", processed=100, failed=20):
        state = fold(state, event)
    graded = detail(state, state.last_ns or 0, 30.0).health
    assert graded is not None and graded.grade == "poor" and "20.00 % of records failed" in graded.reasons
