"""A key's page shows the key's requests refused this month (UTC), counted by reason, each with what it
means; a refusal because the request's worst case was more than the cap had left says so and points
at max_tokens. And the spend it shows is exact, to the micro-dollar."""

import datetime
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apikeys.models import ApiKey
from gateway import snapshots
from gateway.models import RequestLog
from tests.conftest import new_key
from tests.gateway.conftest import catalog, chat_request, funded, hello, upstream  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def refusal_rows(page: str) -> dict[str, tuple[int, str]]:
    """The "Refused this month" list: code → (count, explanation)."""
    section = page.split('data-testid="refusals"')[1].split("</section>")[0]
    rows = re.findall(
        r'<li data-error-code="([^"]*)">\s*<strong data-testid="refusal-count">(\d+) requests?</strong>'
        r'.*?<p class="muted small" data-testid="refusal-explanation">([^<]*)</p>',
        section,
        re.S,
    )
    return {code: (int(count), explanation) for code, count, explanation in rows}


def refused(api_key, code: str, *, when=None) -> RequestLog:
    return RequestLog.objects.create(
        organization=api_key.organization,
        api_key=api_key,
        created_at=when or timezone.now(),
        requested_model="nexevo/balanced",
        status="refused",
        http_status=402,
        error_code=code,
    )


def cap(api_key, amount: str, *, spent: str = "0") -> None:
    ApiKey.objects.filter(pk=api_key.pk).update(
        monthly_spend_cap_usd=Decimal(amount),
        spend_month=timezone.now().date().replace(day=1),
        spend_month_to_date_usd=Decimal(spent),
    )
    snapshots.clear()


def test_it_explains_refusals_whose_worst_case_did_not_fit_and_suggests_max_tokens(alice, funded):  # noqa: F811
    api_key, full_key = funded
    cap(api_key, "0.01")
    for _ in range(2):
        assert chat_request(full_key, hello("west/chat-a")).status_code == 402

    page = signed_in(alice).get(f"/keys/{api_key.id}/").content.decode()

    count, explanation = refusal_rows(page)["spend_cap_exceeded"]
    assert count == 2
    assert "The cap was not reached" in explanation and "worst case" in explanation
    assert "set max_tokens" in explanation
    assert "$0.01 left of the cap" in page


def test_it_says_when_the_cap_is_reached(alice, funded):  # noqa: F811
    api_key, full_key = funded
    cap(api_key, "1.00", spent="1.00")
    assert chat_request(full_key, hello(max_tokens=5)).status_code == 402

    page = signed_in(alice).get(f"/keys/{api_key.id}/").content.decode()

    count, explanation = refusal_rows(page)["spend_cap_exceeded"]
    assert count == 1 and explanation.startswith("The cap is reached")
    assert "$0.00 left of the cap" in page


def test_it_counts_only_this_keys_refusals_of_this_month_by_reason(alice, bob):
    api_key, _full = new_key(alice, name="prod")
    other_key, _full = new_key(alice, name="other")
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(3):
        refused(api_key, "insufficient_balance")
    refused(api_key, "model_not_allowed_by_routing_policy")
    refused(api_key, "insufficient_balance", when=month_start - datetime.timedelta(seconds=1))  # last month
    refused(other_key, "insufficient_balance")
    RequestLog.objects.create(
        organization=api_key.organization,
        api_key=api_key,
        requested_model="x",
        status="failed",
        http_status=502,
        error_code="upstream_error",
    )

    rows = refusal_rows(signed_in(alice).get(f"/keys/{api_key.id}/").content.decode())

    assert list(rows) == ["insufficient_balance", "model_not_allowed_by_routing_policy"]  # most first
    assert rows["insufficient_balance"][0] == 3 and "Top up" in rows["insufficient_balance"][1]
    assert rows["model_not_allowed_by_routing_policy"][0] == 1


def test_a_key_without_refusals_says_so(alice):
    api_key, _full = new_key(alice)

    page = signed_in(alice).get(f"/keys/{api_key.id}/").content.decode()

    assert refusal_rows(page) == {}
    assert "No request of this key was refused this month" in page


def test_the_refusals_cost_one_query_however_many_there_are(alice, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api_key, _full = new_key(alice)
    refused(api_key, "insufficient_balance")
    client = signed_in(alice)
    client.get(f"/keys/{api_key.id}/")
    with CaptureQueriesContext(connection) as few:
        client.get(f"/keys/{api_key.id}/")
    assert sum("gateway_requestlog" in query["sql"] for query in few.captured_queries) == 1

    for code in ["spend_cap_exceeded", "model_unavailable", "invalid_messages"] * 10:
        refused(api_key, code)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(f"/keys/{api_key.id}/")


def test_the_spend_is_shown_exactly_on_the_list_and_the_key_page(alice):
    api_key, _full = new_key(alice)
    cap(api_key, "0.05", spent="0.00015")
    client = signed_in(alice)

    for page in (client.get("/keys/").content.decode(), client.get(f"/keys/{api_key.id}/").content.decode()):
        spend = re.search(r'<span class="spend" data-testid="key-spend">([^<]*)<', page).group(1)
        assert spend.split() == ["$0.00015", "/", "$0.05"]


def test_an_outsider_gets_404_on_the_key_page(alice, charlie):
    api_key, _full = new_key(alice)
    refused(api_key, "insufficient_balance")

    assert signed_in(charlie).get(f"/keys/{api_key.id}/").status_code == 404
