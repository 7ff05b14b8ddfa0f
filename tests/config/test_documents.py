"""Settings documents: every problem reported at once, sources and their precedence, JSON merge patch,
secrets masked and recognised on the way back, the default database's directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobpulse.sidecar.config.layers import merge_patch
from jobpulse.sidecar.config.secrets import masked, unmasked
from jobpulse.sidecar.config.validation import describe
from jobpulse.sidecar.settings import (
    LogLevel,
    Port,
    PositiveFloat,
    Settings,
    SettingsError,
    data_directory,
    load_sources,
)

TOKEN = "xoxb-secret-token"


def settings_file(tmp_path: Path, text: str) -> Path:
    (path := tmp_path / "jobpulse.toml").write_text(text)
    return path


def test_every_problem_of_every_source_is_reported_at_once(tmp_path):
    path = settings_file(
        tmp_path,
        f"""
portt = 4400
log_level = "loud"
[alerting]
group_by = ["owner"]
[alerting.rules.job_stalled]
after_s = 0
[[alerting.channels]]
url = "nosuchscheme://{TOKEN}@host"
""",
    )
    with pytest.raises(SettingsError) as raised:
        load_sources(path, environ={"JOBPULSE_FEED_TICK_MS": "soon", "JOBPULSE_PORT": "70000"})
    found = {problem.key: problem for problem in raised.value.problems}
    assert set(found) == {
        "portt",
        "log_level",
        "alerting.group_by[0]",
        "alerting.rules.job_stalled.after_s",
        "alerting.channels[0].url",
        "feed_tick_ms",
        "port",
    }
    assert found["portt"].message == "unknown key 'portt' (did you mean 'port'?)"
    assert found["log_level"].value == "loud" and "'debug'" in found["log_level"].allowed
    assert found["alerting.rules.job_stalled.after_s"].allowed == "a number > 0"
    assert found["port"].source == "environment variable JOBPULSE_PORT"
    assert found["port"].allowed == "an integer from 0 to 65535"
    assert found["feed_tick_ms"].value == "soon"
    assert found["alerting.group_by[0]"].source == f"config file {path}"
    assert TOKEN not in str(raised.value)


def test_checks_across_keys_run_on_the_merged_sources_and_blame_the_one_that_gave_them(tmp_path):
    path = settings_file(tmp_path, "[alerting.delivery]\nmax_delay_s = 120\n")
    # The file raises the cap, so a base delay above the default cap is fine...
    assert load_sources(path, environ={}).settings.alerting.delivery.max_delay_s == 120
    path = settings_file(tmp_path, "[alerting.delivery]\nbase_delay_s = 60\n")
    with pytest.raises(SettingsError) as raised:
        load_sources(path, environ={})
    [problem] = raised.value.problems
    assert (problem.key, problem.source) == ("alerting.delivery", f"config file {path}")
    assert problem.message == "max_delay_s is smaller than base_delay_s"


def test_sources_in_order_defaults_file_environment_flags(tmp_path):
    path = settings_file(tmp_path, "feed_tick_ms = 30\nretention_days = 7\nheartbeat_window_s = 90\n")
    sources = load_sources(
        path,
        environ={"JOBPULSE_RETENTION_DAYS": "3", "JOBPULSE_HEARTBEAT_WINDOW_S": "45"},
        overrides={"heartbeat_window_s": 20, "port": None},
    )
    settings = sources.settings
    assert (settings.feed_tick_ms, settings.retention_days, settings.heartbeat_window_s, settings.port) == (
        30,
        3.0,
        20.0,
        4318,
    )
    assert sources.file_path == str(path)


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        # RFC 7396, appendix A.
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_json_merge_patch_follows_rfc_7396(target, patch, result):
    assert merge_patch(target, patch) == result


def test_secrets_are_masked_and_a_masked_value_sent_back_keeps_the_secret():
    values = {
        "database_url": "postgresql+asyncpg://jobpulse:hunter22@db.example.com/jobpulse",
        "rate_limit_storage_url": "rediss://:redispw@redis.example:6380/0",
        "other_url": "redis://redis.example/0?db=1&password=querypw",
        "auth_token": "abc123",
        "alerting": {
            "channels": [
                {"name": "ops", "url": f"slack://{TOKEN}/B0000/C0000/#etl", "tags": ["ops"]},
                {"name": "hook", "url": "json://127.0.0.1:9000/hook?+X-Token=sekrit", "tags": []},
            ]
        },
    }
    shown = masked(values)
    text = repr(shown)
    for secret in ("hunter22", "redispw", "querypw", "abc123", TOKEN, "sekrit"):
        assert secret not in text
    assert shown["database_url"] == "postgresql+asyncpg://jobpulse:****@db.example.com/jobpulse"
    assert shown["rate_limit_storage_url"] == "rediss://:****@redis.example:6380/0"
    assert shown["other_url"] == "redis://redis.example/0?db=1&password=****"
    # Sent back with the channels swapped and one tag changed: each keeps its own secret.
    channels = shown["alerting"]["channels"]
    back = {"alerting": {"channels": [{**channels[1], "tags": ["new"]}, channels[0]]}}
    restored = unmasked(back, values)["alerting"]["channels"]
    assert restored[0]["url"] == values["alerting"]["channels"][1]["url"] and restored[0]["tags"] == ["new"]
    assert restored[1]["url"] == values["alerting"]["channels"][0]["url"]
    # A value that is not the mask of the current one is taken as it is.
    assert unmasked({"database_url": "sqlite:///x.db"}, values) == {"database_url": "sqlite:///x.db"}


def test_allowed_values_are_said_in_words():
    assert describe(Port) == "an integer from 0 to 65535"
    assert describe(PositiveFloat | None) == "a number > 0, or unset"
    assert describe(LogLevel) == "one of 'critical', 'debug', 'error', 'info', 'trace', 'warning'"
    assert describe(list[bool]) == "a list, each true or false"


def test_the_default_database_is_in_the_per_user_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings().database_url == f"sqlite+aiosqlite:///{tmp_path / 'xdg' / 'jobpulse' / 'jobpulse.db'}"
    home = Path.home()
    assert data_directory({"XDG_DATA_HOME": "relative/dir"}) == home / ".local" / "share" / "jobpulse"
    assert data_directory({}) == home / ".local" / "share" / "jobpulse"
