"""The console against the authentication contract: a bearer token asked for on 401 and kept for the
tab, a single-use ticket for the live feed, and only the buttons the role allows.

The sidecar has no authentication yet, so the contract's answers (401 without the token, whoami,
the ticket) are given at the browser's network layer; everything else is the real sidecar's."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.support.otlp_build import JobEmitter, post_logs

TOKEN = "s3cret-token"
OWNER = "jobpulse.job.owner"


def answer(route, status: int, body: object) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def test_a_viewer_sees_the_buttons_of_their_own_jobs_only(console_sidecar, console):
    page = console(console_sidecar.url)
    page.page.route("**/api/auth/whoami", lambda route: answer(route, 200, {"name": "bob", "role": "viewer"}))
    page.open()
    expect(page.page.locator("html")).to_have_attribute("data-feed", "live")
    mine, theirs = JobEmitter(uuid.uuid4().hex), JobEmitter(uuid.uuid4().hex)
    post_logs(
        console_sidecar.url,
        [
            mine.start(name="sales-report-export", total=10, **{OWNER: "bob"}),
            theirs.start(name="supplier-invoice-import", total=10, **{OWNER: "ana"}),
        ],
    )
    expect(page.page.locator("#user")).to_contain_text("bob (viewer)")
    expect(page.card(mine.job_id).get_by_role("button", name="Pause sales-report-export")).to_be_visible()
    expect(page.card(mine.job_id).get_by_role("button", name="Cancel sales-report-export")).to_be_visible()
    expect(page.card(theirs.job_id).locator(".badge.status")).to_have_text("running")
    expect(page.card(theirs.job_id).get_by_role("button")).to_have_count(0)
    page.open("alerts")
    expect(page.page.get_by_role("heading", name="Silences")).to_be_visible()
    expect(page.page.get_by_role("button", name="Create silence")).to_have_count(0)
    post_logs(console_sidecar.url, [mine.end(processed=10), theirs.end(processed=10)])


def test_the_token_is_asked_for_kept_for_the_tab_and_cleared_on_sign_out(console_sidecar, console):
    page = console(console_sidecar.url, allowed=(r"^401 for ",))
    api_calls: list[tuple[str, str | None]] = []
    sockets: list[str] = []

    def auth_api(route) -> None:
        request = route.request
        path = urlsplit(request.url).path
        api_calls.append((path, request.headers.get("authorization")))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            answer(route, 401, {"status_code": 401, "detail": "a bearer token is required"})
        elif path == "/api/auth/whoami":
            answer(route, 200, {"name": "ana", "role": "operator"})
        elif path == "/api/auth/ws-ticket" and request.method == "POST":
            answer(route, 200, {"ticket": f"ticket-{len(sockets) + 1}"})
        else:
            route.continue_()

    def feed(socket) -> None:
        # Where the console connects, ticket included; the sidecar would refuse a ticket it never issued.
        sockets.append(socket.url)

    page.page.route("**/api/**", auth_api)
    page.page.route_web_socket(re.compile(r"/ws(\?|$)"), feed)
    page.page.goto(console_sidecar.url + "/")
    dialog = page.page.get_by_role("dialog", name="Sign in")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Access token").fill("wrong")
    dialog.get_by_role("button", name="Sign in").click()
    expect(dialog.get_by_role("alert")).to_have_text("The sidecar did not accept this token.")
    dialog.get_by_label("Access token").fill(TOKEN)
    dialog.get_by_role("button", name="Sign in").click()
    expect(dialog).to_be_hidden()
    expect(page.page.locator("#user")).to_contain_text("ana (operator)")
    expect(page.page.get_by_role("heading", level=1)).to_have_text("Active jobs")
    assert page.page.evaluate("() => sessionStorage.getItem('jobpulse.token')") == TOKEN
    page.page.wait_for_function("() => document.documentElement.dataset.feed === 'live'")
    assert [parse_qs(urlsplit(url).query).get("ticket") for url in sockets] == [["ticket-1"]]
    signed_in = api_calls[[path for path, _ in api_calls].index("/api/auth/ws-ticket") :]
    assert signed_in and all(token == f"Bearer {TOKEN}" for _, token in signed_in)

    page.page.reload()
    expect(page.page.get_by_role("heading", level=1)).to_have_text("Active jobs")
    expect(page.page.get_by_role("dialog", name="Sign in")).to_have_count(0)
    expect(page.page.locator("#user")).to_contain_text("ana (operator)")

    page.page.get_by_role("button", name="Sign out").click()
    expect(page.page.get_by_role("dialog", name="Sign in")).to_be_visible()
    assert page.page.evaluate("() => sessionStorage.getItem('jobpulse.token')") is None
