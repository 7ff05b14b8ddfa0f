"""``jobpulse config validate`` and ``jobpulse config show``, and where the default database goes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.alerting.receivers import HttpReceiver
from tests.auth.conftest import AuthSidecar, auth_sidecar_process
from tests.config.conftest import config_sidecar, config_sidecar_process, get_config, patch_config, settings_file
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.support.sidecar import SidecarProcess, started_ahead

SECRET = "hunter22-token"


def jobpulse(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "JOBPULSE_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "jobpulse.sidecar", *args], capture_output=True, text=True, timeout=60, env=env
    )


def jobpulse_each(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """``jobpulse(*command)`` for each of ``commands``, which must not depend on each other, side by side."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda command: jobpulse(*command), commands))


def test_validate_exits_0_for_a_good_file_and_2_listing_every_problem_of_a_bad_one(tmp_path: Path):
    good = tmp_path / "good.toml"
    good.write_text("feed_tick_ms = 25\n[alerting.rules.job_stalled]\nafter_s = 120\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"feed_tick_ms: 0\nlog_levl: debug\nalerting:\n  channels:\n    - url: 'nosuch://{SECRET}@x'\n")
    exposed = tmp_path / "exposed.toml"
    exposed.write_text('host = "0.0.0.0"\nauth_enabled = false\n')
    result, on_bad, on_exposed = jobpulse_each(*(["config", "validate", str(file)] for file in (good, bad, exposed)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{good}: valid"

    result = on_bad
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "jobpulse: 3 invalid settings:"
    assert [line.split()[0] for line in lines[1:]] == ["feed_tick_ms", "log_levl", "alerting.channels[0].url"]
    assert SECRET not in result.stderr

    result = on_exposed
    assert result.returncode == 2, "the sidecar would refuse to start with it"
    assert result.stderr.startswith(f"jobpulse: {exposed}: refusing to listen on 0.0.0.0 with authentication off")


def test_show_prints_the_running_settings_with_their_sources_and_secrets_masked(tmp_path: Path, receiver: HttpReceiver):
    url = receiver.url("json", "/hook", credentials=f"bot:{SECRET}@")
    sidecar = config_sidecar(tmp_path, f'feed_tick_ms = 30\n[[alerting.channels]]\nname = "hook"\nurl = "{url}"\n')
    try:
        result, as_json, unreachable = jobpulse_each(
            ["config", "show", "--url", sidecar.url],
            ["config", "show", "--url", sidecar.url, "--json"],
            ["config", "show", "--url", f"http://127.0.0.1:{free_port()}"],
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert "feed_tick_ms = 30  (file)" in lines and f"port = {sidecar.port}  (env)" in lines
        assert "retention_days = 30.0  (default)" in lines
        assert SECRET not in result.stdout and "bot:****@" in result.stdout
        assert json.loads(as_json.stdout)["sources"]["feed_tick_ms"] == "file"
        assert unreachable.returncode == 1 and "cannot reach the sidecar" in unreachable.stderr
    finally:
        sidecar.stop_soon()


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The sidecars of the tests below, one each, fresh, started together ahead of them."""
    authenticating = auth_sidecar_process(tmp_path_factory.mktemp("authenticating"))
    with started_ahead(
        configured=config_sidecar_process(tmp_path_factory.mktemp("configured"), "feed_tick_ms = 30\n"),
        authenticating=authenticating.process,
        # Its XDG_DATA_HOME is its working directory.
        plain=SidecarProcess(tmp_path_factory.mktemp("plain")),
    ) as sidecars:
        yield {**sidecars, "authenticating": authenticating}


def test_show_tells_the_settings_file_the_runtime_version_and_a_file_not_applied(own):
    sidecar = own["configured"]
    file = settings_file(sidecar)
    try:
        assert patch_config(sidecar, {"retention_days": 12}).status_code == 200
        file.write_text("feed_tick_ms = 0\n")
        wait_for(lambda: get_config(sidecar)["rejected"])
        result = jobpulse("config", "show", "--url", sidecar.url)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert "feed_tick_ms = 30  (file)" in lines and "retention_days = 12.0  (runtime)" in lines
        assert f"# settings file: {file}" in lines and "# runtime changes: version 1" in lines
        [not_applied] = [index for index, line in enumerate(lines) if line.startswith("# not applied: ")]
        when = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
        source = re.escape(f"settings file {file} (file change)")
        assert re.fullmatch(f"# not applied: {source} at {when}", lines[not_applied]), lines[not_applied]
        assert lines[not_applied + 1].startswith("#   feed_tick_ms: ")
    finally:
        sidecar.stop_soon()


def test_show_presents_the_token_as_a_bearer_and_needs_an_admin(own):
    sidecar: AuthSidecar = own["authenticating"]
    try:
        show = ["config", "show", "--url", sidecar.url]
        result, viewer, anonymous = jobpulse_each(
            [*show, "--token", sidecar.tokens["admin"]], [*show, "--token", sidecar.tokens["viewer"]], show
        )
        assert result.returncode == 0, result.stderr
        assert "auth_enabled = true  (env)" in result.stdout.splitlines()
        assert viewer.returncode == 1 and "refused (403)" in viewer.stderr and "admin role" in viewer.stderr
        assert anonymous.returncode == 1 and "refused (401)" in anonymous.stderr and "--token" in anonymous.stderr
    finally:
        sidecar.process.stop_soon()


def test_the_default_database_is_created_in_the_data_directory_and_named_at_start(own):
    sidecar = own["plain"]
    try:
        database = sidecar.workdir / "jobpulse" / "jobpulse.db"
        assert database.exists()
        assert f"History database: sqlite+aiosqlite:///{database}" in sidecar.log()
        assert not (sidecar.workdir / "jobpulse.db").exists(), "not in the directory it was started from"
    finally:
        sidecar.stop_soon()
