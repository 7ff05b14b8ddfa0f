"""Pause, Resume and Cancel from the console change a real job, and show each request pending until
the job acknowledges it."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.support.job_scripts import start_script
from tests.support.polling import wait_for

# A job that obeys control at its checkpoints (every advance), a few times a second.
OBEDIENT_JOB = """
import time
from jobpulse.instrumentation import track_job
with track_job("orders-db-load", job_type="db_load", job_id={job_id!r}, owner="ana", total=1_000_000) as job:
    while True:
        job.advance()
        time.sleep(0.02)
"""

# Records every value the control line's data-state takes, however briefly: each mutation record
# holds the value before it, so the records' old values and the value now are the whole history,
# even values replaced before the next paint.
RECORD_STATES = """(element) => {
  const before = [];
  new MutationObserver((records) => before.push(...records.map((record) => record.oldValue)))
    .observe(element, { attributes: true, attributeFilter: ['data-state'], attributeOldValue: true });
  window.controlStates = () => [...before, element.dataset.state]
    .filter((state, index, all) => index === 0 || state !== all[index - 1]);
}"""
# That the line said pending, and acknowledged after it.
PENDING_THEN_ACKNOWLEDGED = """() => {
  const states = window.controlStates();
  const pending = states.indexOf('pending');
  return pending >= 0 && states.indexOf('acknowledged', pending) > pending;
}"""


def test_pause_resume_and_cancel_a_real_job_from_the_console(console_sidecar, console):
    sidecar = console_sidecar
    job_id = uuid.uuid4().hex
    process = start_script(OBEDIENT_JOB.format(job_id=job_id), sidecar.url)
    try:
        wait_for(lambda: (job := sidecar.job(job_id)) and job.processed > 0, timeout=20)
        page = console(sidecar.url).open(f"job/{job_id}")
        main = page.page.locator("main")
        expect(page.page.locator("html")).to_have_attribute("data-feed", "live")
        status = main.locator(".badges .badge.status")
        expect(status).to_have_text("running")
        line = main.locator(".controls .control-state")
        line.evaluate(RECORD_STATES)

        main.get_by_label("Reason (optional)").fill("maintenance window")
        main.get_by_role("button", name="Pause orders-db-load").click()
        expect(status).to_have_text("paused")
        expect(line).to_have_attribute("data-state", "acknowledged")
        expect(line).to_contain_text("Pause acknowledged by the job")
        page.page.wait_for_function(PENDING_THEN_ACKNOWLEDGED)
        paused = sidecar.job(job_id)
        assert paused.status == "paused"
        frozen = paused.processed
        expect(main.get_by_role("button", name="Pause orders-db-load")).to_be_hidden()
        history = main.locator("table", has=page.page.locator("caption", has_text="Pause, resume and cancel requests"))
        expect(history.locator("tbody tr").first).to_contain_text("maintenance window")
        expect(history.locator("tbody tr").first).to_contain_text("acknowledged")

        line.evaluate(RECORD_STATES)
        # From the keyboard: the button is a button.
        main.get_by_role("button", name="Resume orders-db-load").focus()
        page.page.keyboard.press("Enter")
        expect(status).to_have_text("running")
        page.page.wait_for_function(PENDING_THEN_ACKNOWLEDGED)
        expect(line).to_contain_text("Resume acknowledged by the job")
        wait_for(lambda: sidecar.job(job_id).processed > frozen, timeout=10)

        line.evaluate(RECORD_STATES)
        main.get_by_role("button", name="Cancel orders-db-load").click()
        dialog = page.page.get_by_role("dialog", name="Cancel orders-db-load?")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_role("button", name="Keep it running")).to_be_focused()
        page.screenshot("cancel-dialog")
        dialog.get_by_label(re.compile("^Reason")).fill("wrong input file")
        dialog.get_by_role("button", name="Cancel the job").click()
        expect(dialog).to_be_hidden()
        expect(status).to_have_text("cancelled")
        page.page.wait_for_function(PENDING_THEN_ACKNOWLEDGED)
        assert process.wait(15) != 0, "JobCancelled ends the job's process"
        expect(history.locator("tbody tr")).to_have_count(3)
        for row in range(3):
            expect(history.locator("tbody tr").nth(row)).to_contain_text("acknowledged")
        expect(history.locator("tbody tr").nth(2)).to_contain_text("wrong input file")
        commands = sidecar.client.commands(job_id).commands
        assert [(c.action, c.state, c.reason) for c in commands] == [
            ("pause", "acknowledged", "maintenance window"),
            ("resume", "acknowledged", None),
            ("cancel", "acknowledged", "wrong input file"),
        ]
    finally:
        process.kill()
        process.wait()


def test_cancel_is_confirmed_first_and_can_be_called_off(console_sidecar, console):
    sidecar = console_sidecar
    job_id = uuid.uuid4().hex
    process = start_script(OBEDIENT_JOB.format(job_id=job_id), sidecar.url)
    try:
        page = console(sidecar.url).open()
        card = page.card(job_id)
        expect(card.locator(".badge.status")).to_have_text("running", timeout=20_000)
        cancel = card.get_by_role("button", name="Cancel orders-db-load")
        cancel.click()
        dialog = page.page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        page.page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(cancel).to_be_focused()
        assert sidecar.client.commands(job_id).commands == []
        assert sidecar.job(job_id).status == "running"
    finally:
        process.kill()
        process.wait()
