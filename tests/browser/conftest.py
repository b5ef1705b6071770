"""Fixtures for the browser tests: Debian's Chromium driven through Playwright's sync API.

Playwright's sync API runs an event loop in the test thread, and Django refuses database access from
a thread with a running loop unless told otherwise; the tests touch the database (the mail outbox,
pytest-django's live server), so this is allowed here, and only here.
"""

import contextlib
import os
from pathlib import Path

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item so the page fixture can tell whether the test failed.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser():
    # Module-scoped, not session-scoped: Playwright's sync API keeps an asyncio loop marked as running
    # on this thread while it is started, and pytest-xdist hands one worker the tests of other modules
    # in between, whose async_to_sync calls would then refuse to run. Stopping it after each module
    # costs one Chromium launch per browser test module.
    if not Path(CHROMIUM).exists():
        if os.environ.get("NEXEVO_SKIP_BROWSER_TESTS") == "1":
            pytest.skip(f"{CHROMIUM} is missing and NEXEVO_SKIP_BROWSER_TESTS=1")
        pytest.fail(
            f"{CHROMIUM} is missing; install Debian's chromium package, or set "
            "NEXEVO_SKIP_BROWSER_TESTS=1 to skip the browser tests",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        # A screenshot is a courtesy: it must never add a second failure.
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
