"""The console in a real headless Chromium: one page, what it requested, and what went wrong on it."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page

VENDOR = Path(__file__).resolve().parent / "vendor"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
# Set once, to refresh the screenshots docs/console.md shows.
DOC_SCREENSHOTS = os.environ.get("JOBPULSE_DOC_SCREENSHOTS") == "1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Served to the page from its own origin, so its Content Security Policy stays as it is.
AXE_URL_PATH = "/__tests__/axe.min.js"


def origin(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


class ConsolePage:
    """A page of the console at ``base_url``, recording every request it makes and every error."""

    def __init__(self, page: Page, base_url: str, artifacts: Path, allowed: tuple[str, ...] = ()) -> None:
        self.page = page
        self.base_url = base_url
        self.artifacts = artifacts
        self.requests: list[str] = []
        self.problems: list[str] = []
        # Regular expressions of the problems a test expects (a sidecar it stops, answers it forges).
        self.allowed = [re.compile(pattern) for pattern in allowed]
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("websocket", lambda socket: self.requests.append(socket.url))
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)
        page.on("response", self._response)
        page.route(
            base_url + AXE_URL_PATH,
            lambda route: route.fulfill(path=VENDOR / "axe.min.js", content_type="text/javascript"),
        )

    def _console(self, message: Any) -> None:
        # A failed load is also a response, judged there.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} for {response.request.method} {response.url}")

    def open(self, route: str = "") -> ConsolePage:
        """Load the console at ``#/route`` (the active view when empty) and wait for its heading."""
        self.page.goto(f"{self.base_url}/{'#/' + route if route else ''}")
        self.page.locator("main h1").wait_for()
        return self

    def card(self, job_id: str) -> Locator:
        return self.page.locator(f'li.card[data-job-id="{job_id}"]')

    def unexpected_problems(self) -> list[str]:
        return [problem for problem in self.problems if not any(pattern.search(problem) for pattern in self.allowed)]

    def foreign_requests(self) -> list[str]:
        """Requests to anywhere but the sidecar (blob: downloads are the page's own)."""
        own = origin(self.base_url)
        return [url for url in self.requests if not url.startswith(f"blob:{own}/") and origin(url) != own]

    def screenshot(self, name: str, *, docs: bool = False, docs_height: int = 1000) -> Path:
        """A PNG of the page in the artifacts folder; with ``docs``, also (its top ``docs_height``
        pixels, which keeps the images small) for docs/console.md when asked."""
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        if docs and DOC_SCREENSHOTS:
            DOCS_IMAGES.mkdir(exist_ok=True)
            height = min(self.page.evaluate("() => document.documentElement.scrollHeight"), docs_height)
            width = self.page.viewport_size["width"]
            self.page.screenshot(
                path=DOCS_IMAGES / f"console-{name}.png",
                full_page=True,
                clip={"x": 0, "y": 0, "width": width, "height": height},
            )
        return path

    def axe_violations(self, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
        """axe-core's violations of the page as it is, of the given impacts."""
        if not self.page.evaluate("() => typeof window.axe === 'object'"):
            self.page.add_script_tag(url=AXE_URL_PATH)
        violations = self.page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + n.failureSummary)}))"""
        )
        return [violation for violation in violations if violation["impact"] in impacts]
