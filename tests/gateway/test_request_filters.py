"""The Requests page's date range (UTC days, both ends included), the totals of the filtered rows,
the shared pager, and a refused or failed request's page, or one whose client left, saying in words
what its error code means."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gateway.models import RequestLog
from tests.conftest import new_key

from .conftest import chat_request, hello
from .test_pages import generation_ids, log, staff_client  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def at(api_key, when: datetime.datetime, **fields) -> RequestLog:
    row = log(api_key, **fields)
    RequestLog.objects.filter(pk=row.pk).update(created_at=when)
    return row


def utc(day: str, time: str = "12:00") -> datetime.datetime:
    return datetime.datetime.fromisoformat(f"{day}T{time}:00+00:00")


def stat(page: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}">([^<]*)<', page).group(1)


def field_errors(page: str, name: str) -> list[str]:
    block = next(
        b for b in re.findall(r'<div class="field[^"]*">.*?</div>', page, re.S) if f'name="{name}"' in b
    )
    return re.findall(r"<li>(.*?)</li>", block)


@pytest.fixture
def three_days(alice):
    api_key, _full = new_key(alice, name="prod")
    return {
        "before": at(api_key, utc("2026-03-09", "23:59")),
        "first": at(api_key, utc("2026-03-10", "00:00")),
        "middle": at(api_key, utc("2026-03-11")),
        "last": at(api_key, utc("2026-03-12", "23:59")),
        "after": at(api_key, utc("2026-03-13", "00:00")),
    }


def test_it_filters_by_utc_days_both_ends_included(alice, three_days):
    client = signed_in(alice)

    within = client.get("/requests/", {"date_from": "2026-03-10", "date_to": "2026-03-12"})
    from_only = client.get("/requests/", {"date_from": "2026-03-12"})
    to_only = client.get("/requests/", {"date_to": "2026-03-09"})
    one_day = client.get("/requests/", {"date_from": "2026-03-11", "date_to": "2026-03-11"})

    assert generation_ids(within) == [three_days[name].id for name in ("last", "middle", "first")]
    assert generation_ids(from_only) == [three_days["after"].id, three_days["last"].id]
    assert generation_ids(to_only) == [three_days["before"].id]
    assert generation_ids(one_day) == [three_days["middle"].id]
    assert 'value="2026-03-10"' in within.content.decode()  # the range typed is kept


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"date_from": "2026-03-12", "date_to": "2026-03-10"}, "date_to", "on or after"),
        ({"date_from": "2025-01-01", "date_to": "2026-03-12"}, "date_to", "at most 92 days"),
        ({"date_from": "2026-02-30"}, "date_from", "YYYY-MM-DD"),
        ({"date_to": "yesterday"}, "date_to", "YYYY-MM-DD"),
        ({"date_from": "99999-01-01"}, "date_from", "YYYY-MM-DD"),
    ],
)
def test_a_bad_range_is_an_error_beside_its_field_never_a_500(alice, three_days, query, field, words):
    response = signed_in(alice).get("/requests/", query)

    assert response.status_code == 200
    errors = field_errors(response.content.decode(), field)
    assert len(errors) == 1 and words in errors[0]


def test_the_last_day_there_is_does_not_overflow(alice, three_days):
    response = signed_in(alice).get("/requests/", {"date_from": "2026-03-12", "date_to": "9999-12-31"})

    assert response.status_code == 200
    assert field_errors(response.content.decode(), "date_to")  # too long a range; "From" still applies
    assert generation_ids(response) == [three_days["after"].id, three_days["last"].id]


def test_the_totals_add_up_every_filtered_row_not_just_the_page(alice):
    api_key, _full = new_key(alice)
    other, _full = new_key(alice, name="other")
    today = timezone.now()
    for index in range(55):
        log(api_key, minutes_ago=index, prompt_tokens=10, completion_tokens=3, cost_usd=Decimal("0.000150"))
    for index in range(5):
        log(
            api_key,
            minutes_ago=index,
            status="refused",
            http_status=402,
            error_code="insufficient_balance",
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=Decimal(0),
        )
    log(other, cost_usd=Decimal("1.00"))  # filtered out by key
    at(api_key, today - datetime.timedelta(days=3))  # filtered out by day

    # From yesterday, so that rows of the last hour are in range even just after midnight (UTC).
    since = (today - datetime.timedelta(days=1)).date().isoformat()
    response = signed_in(alice).get(
        "/requests/", {"key": api_key.id, "date_from": since, "date_to": today.date().isoformat()}
    )

    page = response.content.decode()
    assert len(generation_ids(response)) == 50  # a page; the totals are of all 60
    assert stat(page, "total-requests") == "60"
    assert stat(page, "total-tokens") == "715"
    assert stat(page, "total-tokens-split") == "550 in · 165 out"
    assert stat(page, "total-cost") == "$0.00825"
    assert stat(page, "total-error-rate") == "8.3%"


def test_the_page_runs_the_same_queries_for_3_and_60_rows_with_filters_and_totals(
    alice, django_assert_num_queries
):
    api_key, _full = new_key(alice)
    for index in range(3):
        log(api_key, minutes_ago=index)
    client = signed_in(alice)
    now = timezone.now()
    query = {
        "date_from": (now - datetime.timedelta(days=1)).date().isoformat(),
        "date_to": now.date().isoformat(),
        "status": "completed",
    }
    client.get("/requests/", query)
    with CaptureQueriesContext(connection) as few:
        page = client.get("/requests/", query).content.decode()
    assert stat(page, "total-requests") == "3"
    assert sum("SUM(" in q["sql"].upper() for q in few.captured_queries) == 1  # the totals: one statement

    for index in range(3, 60):
        log(api_key, minutes_ago=index)
    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get("/requests/", query).content.decode()
    assert stat(page, "total-requests") == "60"


def test_the_pager_keeps_the_date_range(alice):
    api_key, _full = new_key(alice)
    for index in range(55):
        log(api_key, minutes_ago=index)
    since = (timezone.now() - datetime.timedelta(days=1)).date().isoformat()
    client = signed_in(alice)

    first = client.get("/requests/", {"date_from": since})
    following = re.search(r'href="\?([^"]+)" data-testid="pager-next"', first.content.decode()).group(1)
    second = client.get(f"/requests/?{following.replace('&amp;', '&')}")

    assert f"date_from={since}" in following.replace("&amp;", "&")
    assert len(generation_ids(second)) == 5
    assert 'data-testid="pager-first"' in second.content.decode()


def test_a_request_refused_by_the_cap_says_why_in_words(alice, funded):
    from apikeys.models import ApiKey
    from gateway import snapshots

    api_key, full_key = funded
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("0.01"))
    snapshots.clear()
    assert chat_request(full_key, hello("west/chat-a")).status_code == 402
    logged = RequestLog.objects.get()

    page = signed_in(alice).get(f"/requests/{logged.id}/").content.decode()

    explanation = re.search(r'data-testid="error-explanation"[^>]*>(.*?)</div>', page, re.S).group(1)
    assert "Why it was refused" in explanation and "<code>spend_cap_exceeded</code>" in explanation
    # The key's spend is under its cap: the worst case is what did not fit, and max_tokens the cure.
    assert "The cap was not reached this month" in explanation and "set max_tokens" in explanation
    listing = signed_in(alice).get("/requests/").content.decode()
    assert re.search(r'data-testid="error-code" title="[^"]*max_tokens[^"]*">spend_cap_exceeded<', listing)


def test_a_cap_refusal_of_an_earlier_month_names_both_reasons(alice):
    api_key, _full = new_key(alice)
    logged = at(
        api_key,
        timezone.now() - datetime.timedelta(days=40),
        status="refused",
        http_status=402,
        error_code="spend_cap_exceeded",
    )

    page = signed_in(alice).get(f"/requests/{logged.id}/").content.decode()

    assert "either the cap was reached, or the request&#x27;s worst-case cost" in page
    assert "Setting max_tokens lowers" in page


def test_a_failed_request_says_why_in_words(alice):
    api_key, _full = new_key(alice)
    logged = log(
        api_key, status="failed", http_status=504, error_code="upstream_timeout", cost_usd=Decimal(0)
    )

    page = signed_in(alice).get(f"/requests/{logged.id}/").content.decode()

    assert "Why it failed" in page and "did not answer in time" in page and "Nothing was charged" in page


def test_a_served_request_has_no_explanation(alice):
    api_key, _full = new_key(alice)
    logged = log(api_key)

    page = signed_in(alice).get(f"/requests/{logged.id}/").content.decode()

    assert 'data-testid="error-explanation"' not in page


def test_an_outsider_gets_404_for_a_request(alice, charlie):
    api_key, _full = new_key(alice)
    logged = log(api_key, status="refused", http_status=402, error_code="spend_cap_exceeded")

    assert signed_in(charlie).get(f"/requests/{logged.id}/").status_code == 404
    assert logged.id not in signed_in(charlie).get("/requests/").content.decode()


def test_a_request_whose_client_left_is_listed_filtered_and_explained_in_words(alice, staff_client):  # noqa: F811
    api_key, _full = new_key(alice)
    left = log(
        api_key, status="client_closed", http_status=499, error_code="client_closed", cost_usd=Decimal(0)
    )
    served = log(api_key)

    listing = signed_in(alice).get("/requests/", {"status": "client_closed"}).content.decode()
    assert '<option value="client_closed" selected>Client closed</option>' in listing
    assert left.id in listing and served.id not in listing
    assert 'data-status="client_closed"' in listing and ">Client closed</span>" in listing

    page = signed_in(alice).get(f"/requests/{left.id}/").content.decode()
    assert "Why it was not answered" in page and "nothing was charged" in page

    admin = staff_client.get(
        "/admin/gateway/requestlog/", {"status__exact": "client_closed"}
    ).content.decode()
    assert "Client closed" in admin and left.id in admin and served.id not in admin
