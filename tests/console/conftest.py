"""Console fixtures: one sidecar and one headless Chromium for the console's tests, and pages that
fail a test on any error or any request that leaves the sidecar's origin."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import require_binary
from tests.console.browser import CHROMIUM_ARGS, ConsolePage
from tests.support.sidecar import SidecarProcess


@pytest.fixture(scope="package")
def console_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    """One sidecar for the console's tests; they keep apart by their own job ids and names."""
    with SidecarProcess(tmp_path_factory.mktemp("console-sidecar")) as process:
        yield process


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    executable = require_binary("chromium", "/usr/bin/chromium", "chromium-browser")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: JOBPULSE_TEST_ARTIFACTS (CI keeps it), else the test run's temp folder."""
    chosen = os.environ.get("JOBPULSE_TEST_ARTIFACTS")
    folder = Path(chosen) / "console" if chosen else tmp_path_factory.mktemp("console-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def console(browser, artifacts: Path) -> Iterator[Callable[..., ConsolePage]]:
    """Open console pages: ``console(base_url, width=..., reduced_motion=..., allowed=(regex, ...))``.

    When the test ends, every page must have made requests to the sidecar's origin only, and met no
    page error, console error or error response but those ``allowed`` matches.
    """
    opened: list[tuple[object, ConsolePage]] = []

    def open_page(
        base_url: str,
        *,
        width: int = 1280,
        height: int = 860,
        reduced_motion: bool = False,
        allowed: tuple[str, ...] = (),
    ) -> ConsolePage:
        context = browser.new_context(
            viewport={"width": width, "height": height}, reduced_motion="reduce" if reduced_motion else "no-preference"
        )
        page = ConsolePage(context.new_page(), base_url, artifacts, allowed)
        opened.append((context, page))
        return page

    yield open_page
    for context, _ in opened:
        context.close()
    for _, page in opened:
        assert page.foreign_requests() == [], "the console requested another origin"
        assert page.unexpected_problems() == [], "the console met errors"
