"""A developer opens Requests from the nav, filters to the failures, and opens a served request to
read its feedback."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apikeys.services import key_create
from billing.services import usage_record
from feedback.services import feedback_submit
from gateway.models import RequestLog
from orgs.selectors import personal_organization_of_user
from tests.billing.helpers import credit
from tests.conftest import PASSWORD, make_user


@pytest.mark.browser
def test_the_requests_page_lists_filters_and_opens_a_request(live_server, page):
    user = make_user("dana@example.com", full_name="Dana Dev")
    organization = personal_organization_of_user(user=user)
    api_key, _full_key = key_create(organization=organization, created_by=user, name="prod")
    credit(organization, "1.00")
    served = usage_record(
        api_key=api_key,
        requested_model="nexevo/balanced",
        model="openai/gpt-4o-mini",
        prompt_tokens=40,
        completion_tokens=12,
    )
    now = timezone.now()
    common = {"organization": organization, "api_key": api_key, "requested_model": "nexevo/balanced"}
    RequestLog.objects.create(
        id=served.id,
        created_at=now - datetime.timedelta(minutes=2),
        model="openai/gpt-4o-mini",
        provider="openai",
        tier="balanced",
        status="completed",
        http_status=200,
        attempts=1,
        prompt_tokens=40,
        completion_tokens=12,
        cost_usd=served.cost_usd,
        latency_ms=640,
        **common,
    )
    failed = RequestLog.objects.create(
        created_at=now - datetime.timedelta(minutes=1),
        model="deepseek/deepseek-chat",
        provider="deepseek",
        tier="balanced",
        status="failed",
        http_status=504,
        error_code="upstream_timeout",
        attempts=2,
        cost_usd=Decimal("0"),
        latency_ms=30000,
        **common,
    )
    feedback_submit(
        organization=organization, user=user, generation_id=served.id, rating=1, comment="Spot on"
    )
    base = live_server.url

    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Requests").click()

    rows = page.get_by_test_id("requests").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("upstream_timeout")

    page.select_option("select[name=status]", "failed")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(page.locator(f'tr[data-generation-id="{failed.id}"]')).to_be_visible()

    page.get_by_role("link", name="Clear").click()
    page.locator(f'tr[data-generation-id="{served.id}"] a').click()
    expect(page).to_have_url(re.compile(rf"/requests/{served.id}/$"))
    expect(page.get_by_test_id("request-detail")).to_contain_text("openai/gpt-4o-mini")
    expect(page.get_by_test_id("request-feedback")).to_contain_text("Spot on")
    page.get_by_test_id("generation-link").click()
    expect(page).to_have_url(re.compile(rf"/billing/generations/{served.id}/$"))
