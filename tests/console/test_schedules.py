"""The console's schedules: each scheduled job name or type with its next due run, its last run and
whether it keeps to its schedule, kept up to date as runs are missed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support import loopback
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.sidecar import SidecarProcess


def set_schedules(sidecar: SidecarProcess, schedules: list[dict]) -> None:
    response = loopback.patch(sidecar.url + "/api/monitor/config", json={"schedules": schedules}, timeout=30)
    assert response.status_code == 200, response.text


@pytest.fixture
def scheduled(console_sidecar: SidecarProcess) -> Iterator[tuple[str, str, str]]:
    """A name that misses its runs and a daily one that ran; the sidecar is shared, so they go after."""
    missing, daily = f"export-{uuid.uuid4().hex[:8]}", f"ledger-{uuid.uuid4().hex[:8]}"
    ran = JobEmitter(uuid.uuid4().hex)
    post_logs(console_sidecar.url, [ran.start(name=daily), ran.end("completed", processed=10)])
    set_schedules(
        console_sidecar,
        [
            {"name": missing, "every": 1, "grace": 0},
            {"name": daily, "cron": "30 2 * * *", "timezone": "Europe/Berlin", "grace": "30m"},
        ],
    )
    yield missing, daily, ran.job_id
    set_schedules(console_sidecar, [])


def test_the_alerts_view_lists_schedules_their_last_run_and_missed_ones(console_sidecar, console, scheduled):
    missing, daily, job_id = scheduled
    page = console(console_sidecar.url).open("alerts")
    section = page.page.get_by_role("region", name="Schedules")
    missed = section.locator("tr", has_text=missing)
    # It turns missed while the page is open: the alert's arrival on the feed reads the schedules again.
    expect(missed.locator(".badge.schedule")).to_have_text("missed", timeout=10_000)
    expect(missed).to_contain_text("every 1.0 s")
    expect(missed).to_contain_text("none known")
    ledger = section.locator("tr", has_text=daily)
    expect(ledger.locator(".badge.schedule")).to_have_text("on time")
    expect(ledger).to_contain_text("30 2 * * * Europe/Berlin")
    expect(ledger.locator(".badge.status")).to_have_text("completed")
    expect(ledger.get_by_role("link")).to_have_attribute("href", f"#/job/{job_id}")
    # The row reads missed once its grace is over; the alert fires at the rule ticker's next pass.
    expect(page.page.locator("main").get_by_text(f"Job {missing} did not start").first).to_be_visible(timeout=10_000)
    assert page.axe_violations() == []
    page.screenshot("schedules", docs=True, docs_height=900)
