"""The dashboard's overview: balance, this month against last, the last 24 hours' requests and errors,
the 14-day chart, top models, keys near their cap, and a first request to copy."""

import datetime
import html
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.services import key_create
from billing.models import UsageRecord
from billing.rollup import usage_rollup
from billing.services import low_balance_threshold_set
from core.money import format_usd_exact
from gateway.models import RequestLog
from orgs.selectors import personal_organization_of_user
from tests.billing.helpers import credit, use
from tests.orgs.helpers import acme_with
from tests.usage_history import usage_history, usage_records_in_sql

pytestmark = pytest.mark.django_db


def test_it_shows_the_balance_spend_requests_and_error_rate(client, alice, alice_key):
    organization = personal_organization_of_user(user=alice)
    credit(organization, "20.00")
    api_key, _ = alice_key
    use(api_key, prompt=1_000_000, completion=0)  # nexevo/fast on pay-as-you-go: a flat rate per 1M
    for status, code in (("completed", 200), ("refused", 402), ("failed", 502), ("completed", 200)):
        RequestLog.objects.create(
            organization=organization,
            api_key=api_key,
            requested_model="nexevo/fast",
            status=status,
            http_status=code,
        )
    client.force_login(alice)

    response = client.get("/dashboard/")

    overview = response.context
    last_day = overview["last_day"]
    assert (last_day["requests"], last_day["errors"], last_day["error_rate"]) == (4, 2, Decimal("50.0"))
    spent = overview["months"]["this_month"]
    assert spent > 0
    assert overview["account"].balance_usd == Decimal("20.00") - spent
    page = response.content.decode()
    assert "50.0%" in page
    assert f"${format_usd_exact(spent)}" in page
    assert 'data-testid="dashboard-chart"' in page


def test_it_compares_this_month_with_the_whole_of_last_month(client, alice, alice_key):
    organization = personal_organization_of_user(user=alice)
    credit(organization, "50.00")
    api_key, _ = alice_key
    with time_machine.travel(datetime.datetime(2026, 11, 3, 12, tzinfo=datetime.UTC)):
        last = use(api_key, prompt=100_000, completion=100_000).cost_usd
        use(api_key, prompt=100_000, completion=100_000)
    with time_machine.travel(datetime.datetime(2026, 12, 2, 12, tzinfo=datetime.UTC)):
        this = use(api_key, prompt=10_000, completion=0).cost_usd
        client.force_login(alice)
        months = client.get("/dashboard/").context["months"]
    assert months == {"this_month": this, "last_month": last * 2}


def test_it_warns_under_the_organizations_own_low_balance_line(client, alice):
    organization = personal_organization_of_user(user=alice)
    credit(organization, "30.00")
    client.force_login(alice)
    assert 'data-testid="low-balance"' not in client.get("/dashboard/").content.decode()

    membership = organization.memberships.get(user=alice)
    low_balance_threshold_set(membership=membership, amount="50.00")
    page = client.get("/dashboard/").content.decode()

    assert 'data-testid="low-balance"' in page
    assert "under $50.00" in page


def test_it_lists_keys_at_80_percent_of_their_cap_and_not_below(client, alice):
    organization = personal_organization_of_user(user=alice)
    credit(organization, "50.00")
    near, _ = key_create(
        organization=organization, created_by=alice, name="near", monthly_spend_cap_usd="0.01"
    )
    far, _ = key_create(
        organization=organization, created_by=alice, name="far", monthly_spend_cap_usd="100.00"
    )
    uncapped, _ = key_create(organization=organization, created_by=alice, name="uncapped")
    for api_key in (near, far, uncapped):
        use(api_key, prompt=100_000, completion=0)  # more than $0.008 on every plan
    client.force_login(alice)

    listed = client.get("/dashboard/").context["keys_near_cap"]

    assert [key.name for key in listed] == ["near"]


def test_it_shows_a_first_chat_completion_with_this_consoles_address(client, alice, settings):
    settings.ALLOWED_HOSTS = ["console.example.test"]
    client.force_login(alice)

    page = client.get("/dashboard/", HTTP_HOST="console.example.test").content.decode()

    assert "http://console.example.test/v1/chat/completions" in page
    assert '"model": "nexevo/balanced"' in page
    assert "/v1/auth/me" not in page


def test_it_shows_only_the_active_organizations_numbers(client, alice, charlie, alice_key):
    credit(personal_organization_of_user(user=alice), "20.00")
    use(alice_key[0])
    client.force_login(charlie)

    response = client.get("/dashboard/")

    assert response.context["months"]["this_month"] == 0
    assert response.context["top_models"] == []
    assert response.context["account"].organization == personal_organization_of_user(user=charlie)


def test_it_counts_the_same_queries_for_10_and_100000_usage_records(client, alice, bob):
    organization = acme_with(alice, developer=bob)
    api_key, _ = key_create(
        organization=organization, created_by=alice, name="bulk", monthly_spend_cap_usd="1"
    )
    client.force_login(alice)
    client.post("/organizations/switch/", {"organization_id": organization.id, "next": "/dashboard/"})
    usage_history(organization, [api_key], alice, count=10)  # 9 served, 1 failed (no usage record)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/dashboard/").status_code == 200
        return len(captured)

    queries()  # the first page of a session may fill caches; what is compared is a later one
    few = queries()
    now = timezone.now()
    usage_records_in_sql(organization, api_key, alice, count=50_000, at=now - datetime.timedelta(days=1))
    usage_rollup()  # half rolled up into DailyUsage, half still raw records: both sources are read
    usage_records_in_sql(organization, api_key, alice, count=49_991, at=now - datetime.timedelta(minutes=5))
    assert UsageRecord.objects.filter(organization=organization).count() == 100_000
    many = queries()

    assert many == few


def test_a_key_at_exactly_80_percent_of_its_cap_is_listed_and_one_micro_dollar_less_is_not(client, alice):
    organization = personal_organization_of_user(user=alice)
    month = timezone.now().date().replace(day=1)
    at_line, _ = key_create(
        organization=organization, created_by=alice, name="at", monthly_spend_cap_usd="0.01"
    )
    below, _ = key_create(
        organization=organization, created_by=alice, name="below", monthly_spend_cap_usd="0.01"
    )
    ApiKey.objects.filter(pk=at_line.pk).update(spend_month=month, spend_month_to_date_usd=Decimal("0.008"))
    ApiKey.objects.filter(pk=below.pk).update(spend_month=month, spend_month_to_date_usd=Decimal("0.007999"))
    client.force_login(alice)

    assert [key.name for key in client.get("/dashboard/").context["keys_near_cap"]] == ["at"]


def test_its_first_request_is_a_chat_completion_at_this_consoles_address(client, alice, settings):
    settings.ALLOWED_HOSTS = ["console.example.com"]
    client.force_login(alice)

    page = client.get("/dashboard/", HTTP_HOST="console.example.com").content.decode()

    curl = html.unescape(page.split('data-testid="first-request-curl">', 1)[1].split("</pre>", 1)[0])
    assert curl.startswith("curl http://console.example.com/v1/chat/completions ")
    body = '{"model": "nexevo/balanced", "messages": [{"role": "user", "content": "Hello!"}]}'
    assert f"-d '{body}'" in curl
    python = html.unescape(page.split('data-testid="first-request-python">', 1)[1].split("</pre>", 1)[0])
    assert 'Nexevo(base_url="http://console.example.com/")' in python
    assert "client.chat.completions.create(" in python
    assert "/v1/auth/me" not in page
    assert 'data-copy="#first-request-curl"' in page and 'data-copy="#first-request-python"' in page
    assert 'href="/cookbook/"' in page.split('data-testid="first-request"', 1)[1]
