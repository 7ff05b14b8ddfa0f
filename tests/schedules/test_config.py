"""``[[schedules]]`` in the settings: what is accepted, and errors that name the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobpulse.sidecar.settings import SettingsError, load_settings


def settings_from(tmp_path: Path, toml: str):
    path = tmp_path / "jobpulse.toml"
    path.write_text(toml)
    return load_settings(path, environ={})


def test_cron_and_interval_schedules_are_read(tmp_path: Path):
    settings = settings_from(
        tmp_path,
        """
        [[schedules]]
        name = "nightly-export"
        cron = "30 2 * * *"
        timezone = "Europe/Berlin"
        grace = "15m"

        [[schedules]]
        name = "etl"
        match = "job_type"
        every = 600
        """,
    )
    nightly, etl = settings.schedules
    assert (nightly.cron, nightly.timezone, nightly.grace_s, nightly.every_s) == (
        "30 2 * * *",
        "Europe/Berlin",
        900,
        None,
    )
    assert (etl.match, etl.every_s, etl.grace_s, etl.timezone) == ("job_type", 600, 300, "UTC")


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        ('cron = "61 * * * *"', "cron", "'61 * * * *' is not a cron expression: bad minute"),
        ('cron = "* * *"', "cron", "'* * *' is not a cron expression: wrong number of fields"),
        ("", "cron", "a schedule needs a cron expression or an `every` interval"),
        (
            'cron = "* * * * *"\nevery = "5m"',
            "every",
            "a schedule has a cron expression or an `every` interval, not both",
        ),
        ('every = "soon"', "every", "must be seconds or a duration such as 90s, 15m, 1h30m, got 'soon'"),
        ("every = 0", "every", "must be longer than 0 seconds, got 0.0"),
        ('every = "5m"\ngrace = "-1m"', "grace", "must be seconds or a duration such as 90s, 15m, 1h30m, got '-1m'"),
        ('every = "5m"\ngrace = -1', "grace", "must be 0 seconds or more, got -1.0"),
        (
            'every = "5m"\ntimezone = "Mars/Olympus"',
            "timezone",
            "'Mars/Olympus' is not an IANA time zone, such as UTC or Europe/Berlin",
        ),
        ('every = "5m"\nmatch = "job_owner"', "match", "invalid enum value 'job_owner'"),
        ('every = "5m"\nevry = 1', "evry", "unknown key 'evry' (did you mean 'every'?)"),
    ],
)
def test_a_bad_schedule_is_refused_naming_its_key_and_value(tmp_path: Path, entry: str, key: str, message: str):
    with pytest.raises(SettingsError) as refused:
        settings_from(tmp_path, f'[[schedules]]\nname = "nightly"\n{entry}\n')
    [problem] = refused.value.problems
    assert (problem.key, problem.message) == (f"schedules[0].{key}", message)


def test_two_schedules_for_one_name_are_refused(tmp_path: Path):
    entry = '[[schedules]]\nname = "nightly"\nevery = "1d"\n'
    with pytest.raises(SettingsError) as refused:
        settings_from(tmp_path, entry + entry)
    [problem] = refused.value.problems
    assert (problem.key, problem.message) == ("schedules", "two schedules are for job_name 'nightly'")
