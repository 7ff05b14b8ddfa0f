"""The schedule-state function: a pure function of when the schedule was set, the last start and now."""

from __future__ import annotations

from datetime import UTC, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from jobpulse.schedules import next_fire_ns, parse_duration
from jobpulse.sidecar.schedules.state import CONFIG, LATE, MISSED, OK, Schedule, due

S = 1_000_000_000
BERLIN = ZoneInfo("Europe/Berlin")


def at(*parts: int, tz: timezone | ZoneInfo = UTC) -> int:
    return int(datetime(*parts, tzinfo=tz).timestamp()) * S


def schedule(
    *, cron: str | None = None, every_s: float | None = None, grace_s: float = 60.0, since_ns: int = 0, tz: str = "UTC"
) -> Schedule:
    return Schedule(
        name="nightly",
        match="job_name",
        source=CONFIG,
        cron=cron,
        every_s=every_s,
        timezone=tz,
        grace_s=grace_s,
        since_ns=since_ns,
    )


def test_an_interval_is_due_one_interval_after_the_last_start_and_missed_after_its_grace():
    every = schedule(every_s=300, grace_s=60, since_ns=at(2024, 5, 1, 0, 0))
    started = at(2024, 5, 1, 10, 0)
    assert due(every, started, started + 299 * S) == (started + 300 * S, started + 360 * S, OK)
    assert due(every, started, started + 300 * S).state == LATE
    assert due(every, started, started + 360 * S).state == LATE, "the grace's last instant is still late"
    assert due(every, started, started + 361 * S).state == MISSED
    assert due(every, started + 330 * S, started + 361 * S).state == OK, "a start moves the next run on"


def test_a_cron_schedule_waits_for_the_first_fire_after_the_last_start():
    five = schedule(cron="*/5 * * * *", grace_s=30)
    started = at(2024, 5, 1, 10, 2, 17)
    expected = at(2024, 5, 1, 10, 5)
    assert due(five, started, expected - S) == (expected, expected + 30 * S, OK)
    assert due(five, started, expected + 30 * S).state == LATE
    assert due(five, started, expected + 31 * S).state == MISSED
    # A run that starts exactly on the minute counts for that minute; the next one is due 5 minutes on.
    assert due(five, expected, expected + 31 * S) == (expected + 300 * S, expected + 330 * S, OK)


def test_without_a_run_the_schedule_counts_from_when_it_was_set():
    since = at(2024, 5, 1, 23, 0)
    daily = schedule(cron="0 2 * * *", grace_s=600, since_ns=since)
    assert due(daily, None, since + S).expected_ns == at(2024, 5, 2, 2, 0)
    # A run from before the schedule existed does not make it missed at once.
    assert due(daily, at(2024, 4, 1, 2, 0), since + S) == due(daily, None, since + S)
    assert due(daily, None, at(2024, 5, 2, 2, 10, 1)).state == MISSED


def test_a_grace_of_zero_misses_a_run_right_after_it_was_due():
    strict = schedule(every_s=60, grace_s=0, since_ns=0)
    assert due(strict, 100 * S, 160 * S).state == LATE
    assert due(strict, 100 * S, 160 * S + 1).state == MISSED


def test_utc_schedules_know_no_daylight_saving_time():
    daily = schedule(cron="30 2 * * *")
    # Around Europe's spring-forward and fall-back nights, 02:30 UTC stays 02:30 UTC.
    assert next_fire_ns("30 2 * * *", "UTC", at(2024, 3, 30, 12)) == at(2024, 3, 31, 2, 30)
    assert due(daily, at(2024, 10, 26, 12), 0).expected_ns == at(2024, 10, 27, 2, 30)
    assert due(daily, at(2024, 10, 27, 2, 30), 0).expected_ns == at(2024, 10, 28, 2, 30)


def test_a_cron_schedule_is_read_in_its_time_zone():
    berlin = schedule(cron="30 2 * * *", tz="Europe/Berlin")
    # Summer: 02:30 in Berlin is 00:30 UTC; winter: 01:30 UTC.
    assert due(berlin, at(2024, 7, 1, 12), 0).expected_ns == at(2024, 7, 2, 2, 30, tz=BERLIN) == at(2024, 7, 2, 0, 30)
    assert due(berlin, at(2024, 1, 1, 12), 0).expected_ns == at(2024, 1, 2, 1, 30)
    # The night 02:30 does not exist it runs at 03:00 (CEST); the night it happens twice, once.
    assert due(berlin, at(2024, 3, 30, 12), 0).expected_ns == at(2024, 3, 31, 1, 0)
    assert due(berlin, at(2024, 10, 26, 12), 0).expected_ns == at(2024, 10, 27, 0, 30)
    assert due(berlin, at(2024, 10, 27, 0, 30), 0).expected_ns == at(2024, 10, 28, 1, 30)


def test_a_cron_expression_with_seconds_fires_on_them():
    assert next_fire_ns("*/2 * * * * *", "UTC", at(2024, 5, 1, 0, 0, 1)) == at(2024, 5, 1, 0, 0, 2)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("0.5", 0.5)]
)
def test_durations(text: str, seconds: float):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15 minutes", "-5m", "1h 30m"])
def test_what_is_no_duration_is_refused_naming_it(text: str):
    with pytest.raises(ValueError, match=f"got {text!r}"):
        parse_duration(text)
