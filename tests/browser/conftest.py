"""A real headless Chromium (Debian's) driven by Playwright, watching every page.

Every page opened through the ``page`` fixture fails its test on a JavaScript
error, a failed request, an error response or a request leaving 127.0.0.1, and
leaves a screenshot in ``test-artifacts/screenshots/`` when its test fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.live_server import ROOT

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "apt-get install -y chromium fonts-noto-color-emoji "
    '(and pip install -e ".[test]" for Playwright)'
)


def _chromium_or_skip() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests; install: {INSTALL_HINT}")
        pytest.skip(f"Chromium or Playwright is not installed; to run: {INSTALL_HINT}")
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    # Module scope, not session: Playwright's sync API keeps an event loop
    # running in this thread while it is open, which would break every asyncio
    # test that runs after the browser tests.
    path = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageProblems:
    """What went wrong on a page while a test used it."""

    errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    error_responses: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return (
            self.errors
            + self.failed_requests
            + self.error_responses
            + self.outside_requests
        )


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator:
    # A test may ask for a login: @pytest.mark.parametrize("credentials", ...).
    credentials = getattr(request, "param", None)
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, http_credentials=credentials
    )
    page = context.new_page()
    problems = PageProblems()
    page.on("pageerror", lambda error: problems.errors.append(str(error)))
    page.on(
        "requestfailed",
        lambda req: problems.failed_requests.append(f"{req.url}: {req.failure}"),
    )
    page.on(
        "response",
        lambda res: (
            res.status >= 400
            and problems.error_responses.append(f"{res.status} {res.url}")
        ),
    )

    def keep_on_loopback(route, req) -> None:
        if _is_loopback(req.url):
            route.continue_()
        else:  # never let the page reach out: record it and refuse
            problems.outside_requests.append(req.url)
            route.abort()

    context.route("**/*", keep_on_loopback)
    page.problems = problems
    yield page
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed or problems.all():
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
    context.close()
    assert not problems.all(), f"problems on the page: {problems}"


def save_screenshot(page, name: str) -> Path:
    """Save a screenshot of the page's current state (used for the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=path, full_page=True)
    return path
