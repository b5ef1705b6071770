"""The Content-Security-Policy holds in a real browser: the console's pages, the 404 and 500 pages,
Swagger UI and ReDoc load and work with no ``securitypolicyviolation`` event and no console error,
and a top-up still reaches Stripe Checkout (a redirect after a form, which ``form-action`` governs)."""

import re
import time

import pytest
from playwright.sync_api import expect

from apikeys.services import key_create, key_update
from tests.billing.helpers import credit
from tests.conftest import PASSWORD
from tests.orgs.helpers import acme_with

# Every violation the page sees, kept where the test can read it, from before any script runs.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""


@pytest.fixture
def watched(page):
    """The page, recording policy violations and console errors."""
    errors: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    return page


def violations(page) -> list[str]:
    return page.evaluate("window.__violations")


def sign_in(page, base: str, user):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page.get_by_test_id("dashboard-heading")).to_be_visible()


@pytest.mark.browser
def test_the_consoles_pages_and_the_api_reference_load_without_a_violation(live_server, watched, alice, bob):
    acme = acme_with(alice, developer=bob)
    credit(acme, "50.00")
    capped, _ = key_create(organization=acme, created_by=alice, name="capped", monthly_spend_cap_usd="10")
    key_update(api_key=capped, actor=alice, requests_per_minute=60)
    page = watched
    page.goto(f"{live_server.url}/accounts/signup/")
    page.goto(f"{live_server.url}/accounts/login/")
    sign_in(page, live_server.url, alice)
    with page.expect_navigation():
        page.get_by_test_id("organization-switcher").select_option(acme.id)
    pages = [
        "/dashboard/",
        "/keys/",
        f"/keys/{capped.id}/",
        "/billing/",
        "/billing/usage/",
        "/requests/",
        f"/organizations/{acme.id}/settings/",
        f"/organizations/{acme.id}/members/",
        "/settings/security/",
        "/settings/security/two-factor/setup/",
    ]
    seen = {}
    for address in pages:
        response = page.goto(live_server.url + address)
        assert "script-src 'self'" in response.headers["content-security-policy"], address
        seen[address] = (response.status, violations(page), list(page.errors))
        page.errors.clear()
    assert {address: status for address, (status, _, _) in seen.items()} == dict.fromkeys(pages, 200)
    assert {address: (found, errors) for address, (_, found, errors) in seen.items() if found or errors} == {}
    with page.expect_console_message(lambda message: "status of 404" in message.text):
        response = page.goto(f"{live_server.url}/no-such-page/")
    assert response.status == 404 and "script-src 'self'" in response.headers["content-security-policy"]
    assert violations(page) == []
    page.errors.clear()  # the 404 itself
    # The spend bar is drawn without an inline style, and still shows the share spent.
    page.goto(f"{live_server.url}/keys/{capped.id}/")
    assert page.locator("svg.bar rect").get_attribute("width") == "0"

    page.goto(f"{live_server.url}/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Nexevo API", timeout=20_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert violations(page) == [] and page.errors == []

    page.goto(f"{live_server.url}/v1/redoc/")
    expect(page.locator("h1").first).to_contain_text("Nexevo API", timeout=20_000)
    expect(page.get_by_role("menuitem", name="keys")).to_be_visible()
    # ReDoc's search runs in a worker that indexes the whole document first; a query typed before the
    # index is ready finds nothing and is not run again, so it is typed again until results come.
    search = page.get_by_role("textbox", name="Search")
    results = page.locator("[data-role='search:results'] li")
    deadline = time.monotonic() + 30
    while True:
        search.fill("")
        search.fill("spend cap")
        try:
            expect(results.first).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    assert violations(page) == [] and page.errors == []


@pytest.mark.browser
@pytest.mark.urls("tests.core.error_urls")
def test_the_500_page_keeps_its_styles_under_the_policy(live_server, watched, settings):
    page = watched

    response = page.goto(f"{live_server.url}/test/explode")

    assert response.status == 500
    expect(page.get_by_test_id("error-500")).to_be_visible()
    # The page's own styles applied: its card has the border radius its <style> block gives it.
    radius = page.get_by_test_id("error-500").evaluate("card => getComputedStyle(card).borderTopLeftRadius")
    assert radius == "10px"
    assert violations(page) == []
    assert [error for error in page.errors if "500" not in error] == []


@pytest.mark.browser
def test_a_top_up_still_reaches_stripe_checkout(live_server, watched, alice, stripe):
    page = watched
    checkout = []

    def stripe_checkout(route):
        checkout.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Stripe Checkout</h1>")

    page.route(re.compile(r"^https://checkout\.stripe\.com/.*"), stripe_checkout)
    sign_in(page, live_server.url, alice)
    page.goto(f"{live_server.url}/billing/")

    page.get_by_test_id("top-up-form").get_by_role("button").click()

    expect(page.locator("h1")).to_have_text("Stripe Checkout")
    assert len(checkout) == 1 and checkout[0].startswith("https://checkout.stripe.com/c/pay/")
    assert [v for v in violations_or_none(page) if "form-action" in v] == []


def violations_or_none(page) -> list[str]:
    """The violations recorded on the page now shown (Stripe's stand-in records none of its own)."""
    return page.evaluate("window.__violations || []")
