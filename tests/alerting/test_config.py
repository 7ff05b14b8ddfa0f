"""Alerting configuration: defaults, loading from the settings file, and errors that name the field."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from jobpulse.sidecar.alerting.config import AlertingSettings
from jobpulse.sidecar.settings import Settings, SettingsError, load_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"
SECRET = "xoxb-secret-token"


def write(tmp_path: Path, text: str, name: str = "jobpulse.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nested_alerting_settings_come_from_the_file(tmp_path):
    path = write(
        tmp_path,
        """
port = 4400
[alerting]
group_window_s = 2
[[alerting.channels]]
url = "json://127.0.0.1:9000/hook"
tags = ["ops"]
[[alerting.channels]]
url = "mailto://bot@example.com?smtp=127.0.0.1&to=ops@example.com"
[alerting.rules.job_stalled]
after_s = 120
channels = ["ops"]
severity = "high"
[alerting.expected_durations]
by_type = { csv_import = 600 }
""",
    )
    settings = load_settings(path, environ={})
    alerting = settings.alerting
    assert settings.port == 4400 and alerting.group_window_s == 2
    assert [(c.name, c.tags) for c in alerting.channels] == [("json-1", ["ops"]), ("mailto-2", [])]
    stalled = alerting.rules.job_stalled
    assert (stalled.after_s, stalled.channels, stalled.severity, stalled.enabled) == (120, ["ops"], "high", True)
    assert alerting.rules.job_failed.channels == ["all"] and alerting.expected_durations.by_type == {"csv_import": 600}
    assert Settings().alerting == AlertingSettings()


@pytest.mark.parametrize(
    ("toml", "path"),
    [
        ("[alerting.rules.job_stalled]\nafter_s = 0", "alerting.rules.job_stalled.after_s"),
        ("[alerting.rules.job_lost]\nseverity = 'loud'", "alerting.rules.job_lost.severity"),
        ("[alerting.rules.job_failed]\nlog_lines = 500", "alerting.rules.job_failed.log_lines"),
        ("[alerting.rules.job_failed]\nchanels = ['ops']", "alerting.rules.job_failed.chanels"),
        ("[alerting.rules.job_explodes]\nenabled = true", "alerting.rules.job_explodes"),
        ("[alerting.rules.resource_pressure]\nmemory_percent = 120", "alerting.rules.resource_pressure.memory_percent"),
        ("[alerting.rules.error_rate]\nmax_ratio = 0", "alerting.rules.error_rate.max_ratio"),
        ("[alerting.delivery]\nattempts = 0", "alerting.delivery.attempts"),
        ("[alerting.delivery]\nbase_delay_s = 60", "alerting.delivery"),
        ("[alerting]\ngroup_by = ['owner']", "alerting.group_by[0]"),
        ("[[alerting.hints]]\ntype = '('\nactions = ['x']", "alerting.hints[0].type"),
        ("[[alerting.hints]]\nactions = ['x']", "alerting.hints[0]"),
        (f"[[alerting.channels]]\nurl = 'nosuchscheme://{SECRET}@host'", "alerting.channels[0].url"),
        (
            "[[alerting.channels]]\nurl = 'json://a'\nname = 'x'\n[[alerting.channels]]\nurl = 'json://b'\nname = 'x'",
            "alerting.channels",
        ),
    ],
)
def test_invalid_alerting_settings_name_their_path(tmp_path, toml, path):
    with pytest.raises(SettingsError) as raised:
        load_settings(write(tmp_path, toml), environ={})
    [problem] = raised.value.problems
    message = str(raised.value)
    assert problem.key == path and "config file" in message and SECRET not in message


def test_the_sidecar_refuses_to_start_with_an_invalid_rule(tmp_path):
    path = write(
        tmp_path,
        f"""
[[alerting.channels]]
url = "json://user:{SECRET}@127.0.0.1:9/hook"
[alerting.rules.job_stalled]
after_s = -1
""",
    )
    result = subprocess.run(
        [sys.executable, "-m", "jobpulse.sidecar", "sidecar", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "alerting.rules.job_stalled.after_s = -1" in result.stderr and SECRET not in result.stderr


def test_the_yaml_form_is_validated_the_same_way(tmp_path):
    path = write(tmp_path, "alerting:\n  delivery:\n    base_delay_s: -1\n", "jobpulse.yaml")
    with pytest.raises(SettingsError, match=re.escape("alerting.delivery.base_delay_s = -1")):
        load_settings(path, environ={})


def test_the_documented_example_is_valid_and_shows_the_defaults():
    example = re.search(r"```toml\n(\[alerting\].*?)```", DOCS.read_text(), re.S)
    assert example, "docs/alerting.md has the full example"
    documented = msgspec.toml.decode(example.group(1).encode(), type=Settings).alerting
    assert documented.channels[0].name == "ops-slack" and documented.hints[0].actions
    assert msgspec.structs.replace(documented, channels=[], hints=[]) == AlertingSettings()
