"""The API reference (Swagger UI at /v1/docs/, ReDoc at /v1/redoc/) loads nothing from outside the
console: no font, script, logo or schema from another host. Every request the page makes is seen;
one to another host is refused and fails the test. Both render the chat endpoint."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}


@pytest.fixture(params=sorted(VIEWPORTS))
def offline_page(browser, live_server, request):
    """A page on which any request to a host other than the live server's is aborted and kept in
    ``page.outside``."""
    context = browser.new_context(locale="en-US", viewport=VIEWPORTS[request.param])
    page = context.new_page()
    page.outside = []
    page.viewport_name = request.param

    def guard(route):
        url = route.request.url
        if url.startswith(live_server.url + "/") or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            page.outside.append(url)
            route.abort()

    context.route("**/*", guard)
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{page.viewport_name}.png"))


def test_it_serves_swagger_ui_from_the_console_alone(offline_page, live_server):
    page = offline_page

    page.goto(f"{live_server.url}/v1/docs/")

    expect(page.locator(".opblock-summary-path", has_text="/v1/chat/completions")).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/v1/models").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, "api-docs")
    assert page.outside == []


def test_it_serves_redoc_from_the_console_alone(offline_page, live_server):
    page = offline_page

    page.goto(f"{live_server.url}/v1/redoc/")

    assert page.outside == [], page.outside  # what ReDoc asked for before it rendered
    expect(
        page.get_by_text("Create a chat completion (OpenAI-compatible), routed and metered").first
    ).to_be_attached(timeout=30_000)
    page.wait_for_load_state("networkidle")
    screenshot(page, "api-redoc")
    assert page.outside == []
