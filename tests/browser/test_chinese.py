"""The console in Simplified Chinese: chosen from the user menu, every page of the navigation (and
the sign-in, sign-up, two-factor and password-reset pages) shows none of our English msgids; the
choice survives a reload and a new sign-in; a user who never chose stays in English.

"Our English msgids" are read from the catalog (locale/zh_Hans/LC_MESSAGES/django.po, or the file
NEXEVO_CATALOG names): every entry not kept identical in Chinese on purpose ("API", "Webhook", model
ids). A msgid is looked for by its literal pieces between placeholders and tags, and only pieces of
two words or more, since a single word ("Nexevo", "OpenAI", "tokens") may well be right in Chinese
text; what a msgid holds in <code> is code, and is not looked for either. Untranslated entries
count: they would show in English.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.accounts.helpers import enable_two_factor
from tests.conftest import PASSWORD, make_user
from tests.core.catalogs.checks import catalog_path, live_entries, load, msgstrs
from tests.orgs.helpers import acme_with

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
NOT_OURS = ("/v1/docs/", "/v1/redoc/", "/v1/openapi.json", "/admin/")
SCREENSHOTS = ("/dashboard/", "/billing/", "/keys/", "/accounts/login/")

# Code stays code in any language: what a msgid holds in <code> is not looked for.
_NOT_TEXT = re.compile(r"<code>.*?</code>|%\(\w+\)[sdfi]|%[sdfi]|\{\{[^}]*\}\}|\{\w*\}|<[^>]+>|&\w+;", re.S)
_WORD = re.compile(r"(?<!\S)[A-Za-z][A-Za-z'’-]*[.,:;!?]?(?!\S)")


def english_pieces() -> dict[str, str]:
    """Each literal piece of two words or more of our msgids, with the msgid it comes from."""
    path = catalog_path()
    if not path.exists():
        pytest.fail(
            f"No catalog at {path}: locale/zh_Hans/LC_MESSAGES/django.po is built from the translators' "
            "work (locale/README.md); NEXEVO_CATALOG may point at another .po file.",
            pytrace=False,
        )
    pieces = {}
    for entry in live_entries(load(path)):
        if "fuzzy" not in entry.flags and all(text == entry.msgid for text in msgstrs(entry)):
            continue  # kept identical in Chinese on purpose
        for english in filter(None, (entry.msgid, entry.msgid_plural)):
            for piece in _NOT_TEXT.split(english):
                piece = " ".join(piece.split()).strip(" .,:;·()“”\"'")
                if len(_WORD.findall(piece)) >= 2:
                    pieces.setdefault(piece, english)
    return pieces


def english_left(page, pieces: dict[str, str]) -> list[str]:
    text = " ".join(page.inner_text("body").split())
    # What is English by nature and marked so (lang="en": an example program's own documentation on
    # the Cookbook pages) is not a string of ours to translate.
    for kept in page.locator('body [lang="en"]').all_inner_texts():
        text = text.replace(" ".join(kept.split()), " ")
    return [
        f"{piece!r} (msgid {msgid!r})"
        for piece, msgid in pieces.items()
        if re.search(r"(?<![A-Za-z])" + re.escape(piece) + r"(?![A-Za-z])", text)
    ]


def links_of(page, selector: str) -> list[str]:
    hrefs = page.eval_on_selector_all(selector, "links => links.map(link => link.getAttribute('href'))")
    return [href for href in hrefs if href.startswith("/") and not href.startswith(NOT_OURS)]


def sign_in(page, base: str, email: str):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")


def html_language(page) -> str:
    return page.get_attribute("html", "lang")


def walk(page, base: str, paths: list[str], pieces: dict[str, str], shots: str | None = None) -> list[str]:
    problems = []
    for path in paths:
        response = page.goto(base + path)
        if response.status != 200:
            problems.append(f"{path}: HTTP {response.status}")
            continue
        if html_language(page) != "zh-hans":
            problems.append(f"{path}: <html lang={html_language(page)!r}>")
        problems += [f"{path}: {left}" for left in english_left(page, pieces)]
        if shots and path in SCREENSHOTS:
            page.screenshot(path=f"{shots}{path.strip('/').replace('/', '-') or 'home'}.png", full_page=False)
    return problems


@pytest.mark.browser
def test_the_console_in_chinese(live_server, browser, tmp_path, settings):
    settings.ACCOUNT_RATE_LIMITS = False
    pieces = english_pieces()
    base = live_server.url
    alice = make_user("alice@example.com", full_name="Alice Archer")
    bob = make_user("bob@example.com", full_name="Bob Baker")
    organization = acme_with(alice, developer=bob)

    context = browser.new_context(locale="en-US", viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base, alice.email)
    expect(page.get_by_test_id("dashboard-heading")).to_be_visible()
    assert html_language(page) == "en"

    # The switch in the user menu.
    page.locator("details.usermenu > summary").click()
    with page.expect_navigation():
        page.get_by_test_id("user-menu").get_by_test_id("language-zh-hans").click()
    assert html_language(page) == "zh-hans"
    page.reload()
    assert html_language(page) == "zh-hans"
    alice.refresh_from_db()
    assert alice.language == "zh-hans"

    with page.expect_navigation():
        page.get_by_test_id("organization-switcher").select_option(organization.id)
    paths = links_of(page, "#sidebar nav a[href], #sidebar .usermenu a[href]")
    assert {"/dashboard/", "/keys/", "/billing/", "/billing/usage/", "/requests/", "/feedback/"} <= set(paths)
    page.goto(f"{base}/organizations/{organization.id}/members/")
    paths += [href for href in links_of(page, "nav.tabs a[href]") if href not in paths]
    paths += ["/settings/security/two-factor/setup/", "/accounts/password/change/", "/accounts/email/"]
    paths = list(dict.fromkeys(paths))

    problems = walk(page, base, paths, pieces)
    # Screenshots to look at (NEXEVO_SCREENSHOTS=<folder> keeps them), at a phone's and a wide size.
    shots = Path(os.environ.get("NEXEVO_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        walk(page, base, [path for path in SCREENSHOTS if path in paths], pieces, shots=f"{shots}/{name}-")
        if viewport is PHONE:
            page.get_by_test_id("menu-button").click()
        page.locator("details.usermenu > summary").click()
        expect(page.get_by_test_id("user-menu").get_by_test_id("language-zh-hans")).to_be_visible()
        page.screenshot(path=f"{shots}/{name}-user-menu.png")
    context.close()

    # Signed out: the switch in the top bar, kept in a cookie, for the ways in.
    context = browser.new_context(locale="en-US", viewport=PHONE)
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    assert html_language(page) == "en"
    with page.expect_navigation():
        page.get_by_test_id("language-zh-hans").click()
    assert html_language(page) == "zh-hans"
    problems += walk(
        page,
        base,
        ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"],
        pieces,
        shots=f"{shots}/phone-signed-out-",
    )
    # The second step of a sign-in with two-factor.
    carol = make_user("carol@example.com")
    enable_two_factor(carol)
    sign_in(page, base, carol.email)
    assert "/accounts/2fa/verify/" in page.url
    problems += walk(page, base, [page.url.removeprefix(base)], pieces)
    context.close()

    # Her choice follows Alice to a new browser that asks for English.
    context = browser.new_context(locale="en-US", viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base, alice.email)
    assert html_language(page) == "zh-hans"
    context.close()

    # Bob never chose: English.
    context = browser.new_context(locale="en-US", viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base, bob.email)
    assert html_language(page) == "en"
    expect(page.locator("#sidebar nav")).to_contain_text("Dashboard")
    context.close()

    assert not problems, f"{len(problems)} pieces of English left:\n" + "\n".join(problems)
