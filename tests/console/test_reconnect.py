"""The console across a sidecar crash: an offline banner at once, a silent job marked stale rather
than shown as live, then, once the sidecar is back, the page catches up by itself without a reload."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.support.job_scripts import start_script
from tests.support.ports import free_port
from tests.support.sidecar import SidecarProcess

STEADY_JOB = """
import time
from jobpulse.instrumentation import track_job
with track_job("orders-csv-import", job_type="csv_import", job_id={job_id!r}, total=1_000_000) as job:
    while True:
        job.advance(10)
        time.sleep(0.01)
"""
# Short, so that the test sees a silent job turn stale; the job heartbeats far more often than this.
HEARTBEAT_WINDOW_S = 3


def percent_of(card) -> float:
    return float(card.locator('[data-field="percent"]').inner_text().split()[0])


def test_a_sidecar_restart_shows_offline_then_catches_up_without_a_reload(tmp_path, console):
    port = free_port()
    settings = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'history.db'}",
        "heartbeat_window_s": HEARTBEAT_WINDOW_S,
    }
    first = SidecarProcess(tmp_path, port, **settings).start()
    job_id = uuid.uuid4().hex
    process = start_script(STEADY_JOB.format(job_id=job_id), first.url, JOBPULSE_RESOURCES_INTERVAL="0.5")
    second = None
    try:
        page = console(first.url, allowed=("^console error: WebSocket connection to",))
        page.open()
        page.page.evaluate("() => { window.sameDocument = true; }")
        card = page.card(job_id)
        banner = page.page.locator("#connection")
        expect(card.locator(".badge.status")).to_have_text("running", timeout=20_000)
        expect(card.get_by_role("progressbar")).to_have_attribute("data-live", "true")
        # Listing jobs writes what history has not written yet: the restarted sidecar knows the job.
        assert [job["id"] for job in first.get("/api/jobs", name="orders-csv-import").json()["items"]] == [job_id]

        first.kill()
        expect(banner).to_have_attribute("data-state", "offline")
        expect(banner).to_contain_text("Offline")
        expect(page.page.locator("html")).to_have_attribute("data-feed", re.compile("offline|connecting"))
        expect(card.get_by_role("progressbar")).to_have_attribute("data-live", "false")
        expect(card.locator('[data-field="stale"]')).to_be_visible(timeout=HEARTBEAT_WINDOW_S * 1000 + 5000)
        page.screenshot("offline")
        before = percent_of(card)

        second = SidecarProcess(tmp_path, port, name="restarted", **settings).start()
        expect(banner).to_have_attribute("data-state", re.compile("resynced|caught-up"), timeout=20_000)
        expect(banner).to_contain_text("Resynced")
        expect(card.locator('[data-field="stale"]')).to_be_hidden(timeout=15_000)
        expect(card.get_by_role("progressbar")).to_have_attribute("data-live", "true")
        page.page.wait_for_function(
            "([id, before]) => parseFloat(document.querySelector("
            "`li.card[data-job-id='${id}'] [data-field=percent]`).textContent) > before",
            arg=[job_id, before],
            timeout=15_000,
        )
        assert page.page.evaluate("() => window.sameDocument") is True, "the page was not reloaded"
        expect(card.locator(".badge.status")).to_have_text("running")
    finally:
        process.kill()
        process.wait()
        first.kill()
        if second is not None:
            second.stop_soon()
