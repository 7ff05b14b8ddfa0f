"""The settings file read again on SIGHUP and when it changes: a good file applies at once, a bad one
leaves the running settings alone and says why (log, /readyz, history); runtime changes keep winning."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.config.conftest import config_sidecar_process, get_config, history, patch_config, settings_file
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess, started_ahead


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SidecarProcess]]:
    """The sidecars of the tests below, one each, fresh, each with its own settings file."""

    def made(name: str, toml: str, **settings: Any) -> SidecarProcess:
        return config_sidecar_process(tmp_path_factory.mktemp(name), toml, **settings)

    with started_ahead(
        # No file watch: only the signal reads the file again.
        sighup=made("sighup", "feed_tick_ms = 30\n", config_poll_interval_s=3600),
        watched=made("watched", "retention_days = 30\n"),
        overridden=made("overridden", "feed_tick_ms = 30\nretention_days = 30\n"),
        moved=made("moved", ""),
    ) as sidecars:
        yield sidecars


def value(sidecar: SidecarProcess, key: str) -> Any:
    return get_config(sidecar)["values"][key]


def config_detail(sidecar: SidecarProcess) -> str | None:
    response = sidecar.get("/readyz")
    assert response.status_code == 200, "a rejected file does not make the sidecar unready"
    return response.json()["details"].get("config")


def test_sighup_applies_a_good_file_and_a_bad_one_leaves_the_running_settings(own):
    sidecar = own["sighup"]
    file = settings_file(sidecar)
    try:
        file.write_text("feed_tick_ms = 60\n[alerting.rules.job_stalled]\nafter_s = 10\n")
        sidecar.process.send_signal(signal.SIGHUP)
        wait_for(lambda: value(sidecar, "feed_tick_ms") == 60)
        shown = get_config(sidecar)
        assert shown["sources"]["alerting.rules.job_stalled.after_s"] == "file" and shown["rejected"] == []
        [applied] = history(sidecar)
        assert (applied["who"], applied["source"], applied["accepted"]) == ("settings file", "sighup", True)
        assert {change["key"] for change in applied["changes"]} == {
            "feed_tick_ms",
            "alerting.rules.job_stalled.after_s",
        }

        before = get_config(sidecar)
        file.write_text("feed_tick_ms = 0\nretention_days = -1\ncolour = 'blue'\n")
        sidecar.process.send_signal(signal.SIGHUP)
        detail = wait_for(lambda: config_detail(sidecar), timeout=10)
        assert f"settings file {file} (sighup)" in detail and "feed_tick_ms = 0" in detail
        shown = get_config(sidecar)
        assert shown["values"] == before["values"] and shown["sources"] == before["sources"]
        [rejection] = shown["rejected"]
        assert {problem["key"] for problem in rejection["problems"]} == {"feed_tick_ms", "retention_days", "colour"}
        assert "unknown key 'colour'" in sidecar.log() and "retention_days = -1" in sidecar.log()
        assert history(sidecar)[0]["accepted"] is False

        file.write_text("feed_tick_ms = 80\n")
        sidecar.process.send_signal(signal.SIGHUP)
        wait_for(lambda: value(sidecar, "feed_tick_ms") == 80)
        assert config_detail(sidecar) is None
        assert value(sidecar, "alerting")["rules"]["job_stalled"]["after_s"] == 300, "gone from the file: default"
    finally:
        sidecar.stop_soon()


def test_a_changed_file_is_applied_without_a_signal(own):
    sidecar = own["watched"]
    try:
        file = settings_file(sidecar)
        replacement = file.with_name(file.name + ".new")
        replacement.write_text("retention_days = 12\n")
        replacement.replace(file)  # as editors save: a new file renamed over the old
        wait_for(lambda: value(sidecar, "retention_days") == 12)
        assert history(sidecar)[0]["source"] == "file change"
    finally:
        sidecar.stop_soon()


def test_a_runtime_change_wins_over_the_file_until_it_is_removed(own):
    sidecar = own["overridden"]
    try:
        assert patch_config(sidecar, {"feed_tick_ms": 50}).status_code == 200
        settings_file(sidecar).write_text("feed_tick_ms = 70\nretention_days = 9\n")
        wait_for(lambda: value(sidecar, "retention_days") == 9)
        shown = get_config(sidecar)
        assert (shown["values"]["feed_tick_ms"], shown["sources"]["feed_tick_ms"]) == (50, "runtime")
        answer = patch_config(sidecar, {"feed_tick_ms": None}).json()
        assert (answer["values"]["feed_tick_ms"], answer["sources"]["feed_tick_ms"]) == (70, "file")
    finally:
        sidecar.stop_soon()


def test_a_file_that_moves_the_database_is_applied_except_for_it_until_a_restart(own):
    sidecar = own["moved"]
    try:
        running = value(sidecar, "database_url")
        settings_file(sidecar).write_text(
            "database_url = 'postgresql+asyncpg://etl:hunter22@db.example.com/jobpulse'\nretention_days = 5\n"
        )
        wait_for(lambda: value(sidecar, "retention_days") == 5)
        shown = get_config(sidecar)
        assert shown["values"]["database_url"] == running and shown["sources"]["database_url"] == "default"
        assert shown["pending_restart"] == {"database_url": "postgresql+asyncpg://etl:****@db.example.com/jobpulse"}
        assert "restart to apply database_url" in config_detail(sidecar) and "hunter22" not in sidecar.log()
    finally:
        sidecar.stop_soon()
