"""The Model library in a browser, signed out, at a phone's width and a wide screen's: search, filter,
sort, tick three models and compare them; no page scrolls sideways.

With NEXEVO_SCREENSHOTS=<folder> it also saves the list, a model and the comparison at both sizes."""

import datetime
import os
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from gateway.models import GatewayModel, ModelRating

CATALOG = Path(__file__).resolve().parents[2] / "gateway" / "catalog" / "catalog.json"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
RATED = {
    "anthropic/claude-sonnet-4-5": (Decimal("0.912"), 240, 1800),
    "anthropic/claude-haiku-4-5": (Decimal("0.874"), 120, 900),
    "openai/gpt-4o-mini": (Decimal("0.801"), 96, 700),
}


def seed_library():
    call_command("loadproviders", str(CATALOG), stdout=StringIO())
    now = timezone.now()
    for public_id, (rate, ratings, latency) in RATED.items():
        ModelRating.objects.create(
            model=GatewayModel.objects.get(public_id=public_id),
            positive_rate=rate,
            ratings=ratings,
            p50_latency_ms=latency,
            error_rate=Decimal("0.004"),
            output_tokens_per_second=Decimal("71.5"),
            requests=ratings * 20,
            computed_at=now - datetime.timedelta(minutes=12),
        )


def assert_fits(page):
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    inner_width = page.evaluate("window.innerWidth")
    if scroll_width > inner_width:
        widest = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(element => element.getBoundingClientRect().right > window.innerWidth + 1)
                .slice(-3).map(element => element.tagName + '.' + element.className).join(', ')"""
        )
        pytest.fail(f"{page.url}: {scroll_width}px wide in a {inner_width}px window ({widest})")


def screenshot(page, name: str):
    folder = os.environ.get("NEXEVO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


def model_ids(page) -> list[str]:
    return page.eval_on_selector_all("[data-model-id]", "rows => rows.map(row => row.dataset.modelId)")


def apply_filters(page):
    with page.expect_navigation():
        page.get_by_test_id("apply-filters").click()


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_search_filter_sort_and_compare_three_models(live_server, page, viewport):
    seed_library()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.set_viewport_size(viewport)
    size = f"{viewport['width']}x{viewport['height']}"

    page.goto(f"{live_server.url}/")  # signed out: the top bar links to the library
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.get_by_role("heading", name="Model library")).to_be_visible()
    expect(page.get_by_test_id("result-count")).to_contain_text(f"{GatewayModel.objects.count()} models")
    screenshot(page, f"library-list-{size}")
    assert_fits(page)

    # Search
    page.get_by_label("Search", exact=True).fill("claude")
    apply_filters(page)
    ids = model_ids(page)
    assert ids and all("claude" in model_id for model_id in ids)

    # Filter: vision, in a region, sorted by rating, best first
    page.get_by_label("Search", exact=True).fill("")
    if viewport is PHONE:  # the other filters fold away on a phone
        page.get_by_test_id("more-filters").click()
    page.get_by_label("Region").select_option("overseas")
    page.locator("label.chip", has_text="Vision").click()
    page.get_by_label("Sort by").select_option("rating")
    apply_filters(page)
    ids = model_ids(page)
    assert ids[:3] == list(RATED)  # the three rated ones first, best first
    assert "deepseek/deepseek-chat" not in ids  # a China-region model
    expect(page.locator("[data-model-id='anthropic/claude-sonnet-4-5']")).to_contain_text("91.2%")

    # Sort by price, lowest first
    page.get_by_label("Sort by").select_option("price")
    apply_filters(page)
    rows = page.locator("[data-model-id]")
    first_prices = [
        Decimal(text.strip("$").split("/")[0])
        for text in rows.locator("dd.mono").all_inner_texts()[0:6:2]  # input price of the first three
    ]
    assert first_prices == sorted(first_prices)
    assert_fits(page)

    # Tick three, compare
    for model_id in RATED:
        page.locator(f"[data-model-id='{model_id}'] [data-testid=compare-pick]").check()
    with page.expect_navigation():
        page.get_by_test_id("compare-button").click()
    table = page.get_by_test_id("compare")
    expect(table).to_be_visible()
    for model_id in RATED:
        expect(table).to_contain_text(model_id)
    # gpt-4o-mini at list price 0.15/0.60 + 5%: one request costs (1,000 × 0.1575 + 500 × 0.63) / 1M
    # = 0.0004725, charged 0.000472 (rounded to micro-dollars, half to even); a thousand of them:
    assert "$0.472" in page.get_by_test_id("compare-cost").all_inner_texts()
    screenshot(page, f"library-compare-{size}")
    assert_fits(page)

    with page.expect_navigation():
        page.get_by_role("link", name="Claude Sonnet 4.5").first.click()
    expect(page.get_by_test_id("ratings")).to_contain_text("1800 ms")
    screenshot(page, f"library-detail-{size}")
    assert_fits(page)
    assert not errors, errors
