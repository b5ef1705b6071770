"""Every page an owner reaches from the navigation, and each kind of detail page, fits a phone and a
wide screen: with long names, the longest e-mail address, a 5,000-character unbroken message and a few
thousand usage records (tests/browser/seed.py), no page scrolls sideways, the open user menu lies
inside the window, and the browser logs no error."""

import pytest
from playwright.sync_api import expect

from tests.browser.seed import seed_layout_organization
from tests.conftest import PASSWORD

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
# Swagger UI is the API reference's own page (drf-spectacular's sidecar), not the console's layout.
NOT_OURS = ("/v1/docs/", "/v1/redoc/", "/v1/openapi.json")


def detail_pages(seeded) -> list[str]:
    organization = seeded["organization"]
    return [
        f"/keys/{seeded['key'].id}/",
        f"/keys/{seeded['key'].id}/revoke/",
        f"/requests/{seeded['generation'].id}/",
        f"/billing/generations/{seeded['generation'].id}/",
        f"/conversations/{seeded['conversation'].id}/",
        f"/conversations/{seeded['conversation'].id}/delete/",
        f"/organizations/{organization.id}/settings/",
        f"/organizations/{organization.id}/activity/",
        f"/organizations/{organization.id}/delete/",
        "/requests/provider-keys/",
        "/billing/plan/?plan_id=pro",
        "/settings/security/two-factor/setup/",
        "/accounts/email/",
        "/accounts/password/change/",
    ]


def links_of(page, selector: str) -> list[str]:
    hrefs = page.eval_on_selector_all(selector, "links => links.map(link => link.getAttribute('href'))")
    return [href for href in hrefs if href.startswith("/") and not href.startswith(NOT_OURS)]


def open_user_menu(page, *, phone: bool):
    if phone:
        page.get_by_test_id("menu-button").click()
        expect(page.locator("#sidebar")).to_be_visible()
    page.locator("details.usermenu > summary").click()
    menu = page.locator("details.usermenu .menu")
    expect(menu).to_be_visible()
    return menu.bounding_box()


def check_page(page, base: str, path: str, viewport: dict, errors: list[str]) -> list[str]:
    """What is wrong with ``path`` at this size, as sentences (empty when nothing is)."""
    problems = []
    response = page.goto(base + path)
    if response.status != 200:
        return [f"{path}: HTTP {response.status}"]
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    inner_width = page.evaluate("window.innerWidth")
    if scroll_width > inner_width:
        widest = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(element => element.getBoundingClientRect().right > window.innerWidth + 1)
                .slice(-3).map(element => element.tagName + '.' + element.className).join(', ')"""
        )
        problems.append(f"{path}: {scroll_width}px wide in a {inner_width}px window ({widest})")
    box = open_user_menu(page, phone=viewport is PHONE)
    if not (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= viewport["width"]
        and box["y"] + box["height"] <= viewport["height"]
    ):
        problems.append(f"{path}: the user menu lies outside the window at {box}")
    if errors:
        problems.append(f"{path}: console errors {errors}")
        errors.clear()
    return problems


@pytest.mark.browser
def test_every_page_fits_a_phone_and_a_wide_screen(live_server, page):
    seeded = seed_layout_organization(history=2000)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", seeded["owner"].email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page.get_by_test_id("dashboard-heading")).to_be_visible()
    # A new user starts in their personal workspace; the seeded organization is one switch away.
    with page.expect_navigation():
        page.get_by_test_id("organization-switcher").select_option(seeded["organization"].id)
    expect(page.get_by_test_id("dashboard-heading")).to_have_text(seeded["organization"].name)

    navigation = links_of(page, "#sidebar nav a[href], #sidebar .usermenu a[href]")
    assert {"/dashboard/", "/keys/", "/billing/", "/billing/usage/", "/requests/", "/feedback/"} <= set(
        navigation
    )
    pages = list(dict.fromkeys(navigation + detail_pages(seeded)))
    # Each page's own links one level down (an organization's tabs, usage filters) are in the list too.
    page.goto(f"{live_server.url}/organizations/{seeded['organization'].id}/members/")
    pages += [href for href in links_of(page, "nav.tabs a[href]") if href not in pages]

    problems = []
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        for path in pages:
            problems += check_page(page, live_server.url, path, viewport, errors)
    assert not problems, "\n".join(problems)
    assert len(pages) >= 20
