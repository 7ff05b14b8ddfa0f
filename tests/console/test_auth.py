"""The console against a sidecar with authentication on: the token asked for on 401 and kept for the
tab, a single-use ticket for the live feed, and only the buttons the role allows; with it off, no
sign-in at all."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from jobpulse.client import Client
from tests.auth.conftest import AuthSidecar, bearer, start_auth_sidecar
from tests.console.browser import ConsolePage
from tests.support.otlp_build import JobEmitter, post_logs

OWNER = "jobpulse.job.owner"
# Before the token is given (and for a wrong one) the sidecar answers 401: that is the sign-in's cue.
UNAUTHORIZED = (r"^401 for ",)


@pytest.fixture(scope="module")
def auth_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthSidecar]:
    """A sidecar with authentication on; its tokens are named after their roles (``viewer``, ...)."""
    # The tokens are written with an event loop of their own, which Playwright's, running in this
    # thread, does not allow here.
    with ThreadPoolExecutor(1) as thread:
        sidecar = thread.submit(start_auth_sidecar, tmp_path_factory.mktemp("console-auth")).result()
    yield sidecar
    sidecar.process.stop_soon()


def send(sidecar: AuthSidecar, records: list) -> None:
    """Telemetry as a job sends it, with the ingest token."""
    post_logs(sidecar.url, records, headers=bearer(sidecar.tokens["ingest"]))


def signed_in(page: ConsolePage, token: str) -> ConsolePage:
    """The page with ``token`` already in the tab's session storage, as after a sign-in."""
    page.page.add_init_script(f"sessionStorage.setItem('jobpulse.token', {json.dumps(token)})")
    return page


def test_the_token_is_asked_for_kept_for_the_tab_and_the_feed_opened_with_a_ticket(auth_sidecar, console):
    token = auth_sidecar.tokens["operator"]
    page = console(auth_sidecar.url, allowed=UNAUTHORIZED)
    page.page.goto(auth_sidecar.url + "/")
    dialog = page.page.get_by_role("dialog", name="Sign in")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Access token")).to_be_focused()
    dialog.get_by_label("Access token").fill("jp_nosuchid_nosuchsecret")
    dialog.get_by_role("button", name="Sign in").click()
    expect(dialog.get_by_role("alert")).to_have_text("The sidecar did not accept this token.")
    dialog.get_by_label("Access token").fill(token)
    dialog.get_by_role("button", name="Sign in").click()
    expect(dialog).to_be_hidden()
    expect(page.page.locator("#user")).to_contain_text("operator (operator)")
    expect(page.page.get_by_role("heading", level=1)).to_have_text("Active jobs")
    assert page.page.evaluate("() => sessionStorage.getItem('jobpulse.token')") == token
    expect(page.page.locator("html")).to_have_attribute("data-feed", "live")

    # The feed is live through the sidecar's own ticket check: a job's news reaches the page.
    job = JobEmitter(uuid.uuid4().hex)
    send(auth_sidecar, [job.start(name="nightly-ledger-import", total=10, **{OWNER: "ana"})])
    card = page.card(job.job_id)
    expect(card.locator(".badge.status")).to_have_text("running")
    expect(card.get_by_role("button", name="Pause nightly-ledger-import")).to_be_visible()
    [feed] = [url for url in page.requests if urlsplit(url).path == "/ws"]
    assert parse_qs(urlsplit(feed).query)["ticket"][0], "the feed is opened with a ticket"
    assert not [url for url in page.requests if token in url], "the token never goes in a URL"

    page.page.reload()
    expect(page.page.get_by_role("heading", level=1)).to_have_text("Active jobs")
    expect(page.page.get_by_role("dialog", name="Sign in")).to_have_count(0)
    expect(page.page.locator("#user")).to_contain_text("operator (operator)")
    expect(page.card(job.job_id).locator(".badge.status")).to_have_text("running")

    page.page.get_by_role("button", name="Sign out").click()
    expect(page.page.get_by_role("dialog", name="Sign in")).to_be_visible()
    assert page.page.evaluate("() => sessionStorage.getItem('jobpulse.token')") is None
    send(auth_sidecar, [job.end(processed=10)])


def test_a_viewer_sees_the_buttons_of_their_own_jobs_only(auth_sidecar, console):
    page = signed_in(console(auth_sidecar.url), auth_sidecar.tokens["viewer"]).open()
    expect(page.page.locator("html")).to_have_attribute("data-feed", "live")
    expect(page.page.locator("#user")).to_contain_text("viewer (viewer)")
    mine, theirs = JobEmitter(uuid.uuid4().hex), JobEmitter(uuid.uuid4().hex)
    send(
        auth_sidecar,
        [
            mine.start(name="sales-report-export", total=10, **{OWNER: "viewer"}),
            theirs.start(name="supplier-invoice-import", total=10, **{OWNER: "ana"}),
        ],
    )
    expect(page.card(theirs.job_id).locator(".badge.status")).to_have_text("running")
    expect(page.card(theirs.job_id).get_by_role("button")).to_have_count(0)
    mine_card = page.card(mine.job_id)
    expect(mine_card.get_by_role("button", name="Cancel sales-report-export")).to_be_visible()
    # The sidecar agrees: the owner's pause is accepted, and pending until the job answers.
    mine_card.get_by_role("button", name="Pause sales-report-export").click()
    expect(mine_card.locator(".control-state")).to_have_attribute("data-state", "pending")
    expect(mine_card.locator(".control-state")).to_contain_text(re.compile(r"^Pause requested by viewer at "))
    with Client(auth_sidecar.url, auth_sidecar.tokens["viewer"]) as client:
        commands = client.commands(mine.job_id).commands
    assert [(command.action, command.requested_by) for command in commands] == [("pause", "viewer")]

    page.open("alerts")
    expect(page.page.get_by_role("heading", name="Silences")).to_be_visible()
    expect(page.page.get_by_role("button", name="Create silence")).to_have_count(0)
    send(auth_sidecar, [mine.end(processed=10), theirs.end(processed=10)])


def test_without_authentication_there_is_no_sign_in_and_every_button(console_sidecar, console):
    page = console(console_sidecar.url).open()
    expect(page.page.locator("html")).to_have_attribute("data-feed", "live")
    job = JobEmitter(uuid.uuid4().hex)
    post_logs(console_sidecar.url, [job.start(name="open-demo-import", total=10, **{OWNER: "ana"})])
    expect(page.card(job.job_id).get_by_role("button", name="Pause open-demo-import")).to_be_visible()
    expect(page.page.locator("#user")).to_be_empty()
    expect(page.page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.page.get_by_role("dialog")).to_have_count(0)
    post_logs(console_sidecar.url, [job.end(processed=10)])
