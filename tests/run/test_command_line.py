"""The ``jobpulse`` command: ``run`` needs only the job side, its options are checked at the edge."""

from __future__ import annotations

import json
import sys

import pytest

from tests.run.wrapper import run
from tests.support.job_scripts import run_script

SERVER_SIDE = ("litestar", "sqlalchemy", "apprise", "msgspec", "typer", "jobpulse.sidecar")


def test_jobpulse_run_loads_nothing_of_the_sidecar() -> None:
    done = run_script(
        f"""
        import json, sys
        from jobpulse.cli import main
        try:
            main(["run", "--", sys.executable, "-c", "print('from the command')"])
        except SystemExit as exit:
            code = exit.code
        print(json.dumps([code, sorted(name for name in sys.modules if name.startswith({SERVER_SIDE!r}))]))
        """,
        "http://127.0.0.1:9",
    )
    assert done.returncode == 0, done.stderr
    first, last = done.stdout.splitlines()
    assert first == "from the command"
    assert json.loads(last) == [0, []]


def test_other_commands_without_the_sidecar_installed_name_the_extra_to_install() -> None:
    done = run_script(
        """
        import sys
        sys.modules["typer"] = None  # as if the sidecar's dependencies were not installed
        from jobpulse.cli import main
        main(["sidecar"])
        """,
        None,
    )
    assert done.returncode == 1
    assert "`jobpulse sidecar` is part of the sidecar" in done.stderr
    assert "pip install 'jobpulse[sidecar]'" in done.stderr


def test_help_without_the_sidecar_installed_is_about_run() -> None:
    done = run_script(
        """
        import sys
        sys.modules["typer"] = None
        from jobpulse.cli import main
        main(["--help"])
        """,
        None,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: jobpulse run [options] -- CMD [ARGS...]")


def test_other_commands_go_to_the_sidecar() -> None:
    done = run_script("from jobpulse.cli import main; main(['--help'])", None)
    assert done.returncode == 0, done.stderr
    assert "sidecar" in done.stdout and "Run any command as a watched job" in done.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--total", "many"], "argument --total: must be a whole number of records, 0 or more, got 'many'"),
        (
            ["--expected-duration", "soon"],
            "argument --expected-duration: must be seconds or a duration such as 90s, 15m, 1h30m, got 'soon'",
        ),
        (["--cancel-grace", "-1"], "argument --cancel-grace: must be a number of seconds, 0 or more, got '-1'"),
        (["--progress-regex", "(\\d+)"], "argument --progress-regex: needs a named group done or percent"),
        (
            ["--step-regex", "(unclosed"],
            "argument --step-regex: is not a regular expression (missing ), unterminated subpattern",
        ),
        (
            ["--queued-at", "2024-05-01T02:15:00"],
            "argument --queued-at: must be an ISO 8601 time with a timezone, such as 2024-05-01T02:15:00Z or "
            "2024-05-01T04:15:00+02:00, or seconds since the epoch, got '2024-05-01T02:15:00'",
        ),
        (["--queued-at", "yesterday"], "argument --queued-at: must be an ISO 8601 time with a timezone"),
        (
            ["--queued-at", "1714529700000"],
            "argument --queued-at: must be seconds since the epoch (not milliseconds), 0 or more, got '1714529700000'",
        ),
        (["--queued-at", "-5"], "argument --queued-at: must be seconds since the epoch (not milliseconds), 0 or more"),
        (["--queued-at", "nan"], "argument --queued-at: must be seconds since the epoch (not milliseconds), 0 or more"),
        (
            ["--queued-at", "0", "--priority", "high"],
            "argument --priority: must be a whole number from -2147483648 to 2147483647, got 'high'",
        ),
        (["--queued-at", "0", "--priority", "2147483648"], "argument --priority: must be a whole number from"),
        (["--queued-at", "0", "--queue", ""], "argument --queue: must be a name of 1 to 200 characters, got ''"),
        (["--queued-at", "0", "--queue", "q" * 201], "argument --queue: must be a name of 1 to 200 characters"),
        (
            ["--queue", "imports"],
            "argument --queue: needs --queued-at TIME, when the run was queued; got 'imports' without it",
        ),
        (["--priority", "5"], "argument --priority: needs --queued-at TIME, when the run was queued; got 5 without it"),
        (
            ["--schedule", "*/5 * * * 8"],
            "argument --schedule: is neither an interval such as 15m nor a cron expression: "
            "'*/5 * * * 8' is not a cron expression: bad day-of-week",
        ),
        (["--schedule", "0s"], "argument --schedule: an interval must be longer than 0 seconds, got '0s'"),
        (
            ["--schedule", "15m", "--schedule-timezone", "Mars/Olympus"],
            "argument --schedule-timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (["--grace", "10m"], "argument --grace: needs --schedule"),
    ],
)
def test_a_bad_option_is_refused_naming_it_and_its_value(arguments: list[str], message: str) -> None:
    done = run([*arguments, "--", sys.executable, "-c", "print('never run')"], None)
    assert done.returncode == 2
    assert message in done.stderr.decode()
    assert b"never run" not in done.stdout


def test_a_missing_command_is_refused() -> None:
    done = run(["--name", "nothing"], None)
    assert done.returncode == 2
    assert "no command given: jobpulse run [options] -- CMD [ARGS...]" in done.stderr.decode()
