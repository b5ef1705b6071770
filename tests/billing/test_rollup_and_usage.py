"""The daily roll-up and the usage reads built on it."""

import datetime
import random
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from billing.models import DailyUsage, UsageRecord
from billing.rollup import usage_rollup
from tests.billing.helpers import use

MODELS = [("nexevo/fast", None), ("nexevo/balanced", "openai/gpt-4o"), ("openai/gpt-4o-mini", None)]


def bulk_usage(api_key, count: int, *, days_back: int = 6, seed: int = 7) -> None:
    """``count`` raw records spread over the last days, written in bulk (not priced one by one)."""
    rng = random.Random(seed)
    now = timezone.now()
    records = []
    for index in range(count):
        model, served = MODELS[index % len(MODELS)]
        created = now - datetime.timedelta(days=rng.randint(0, days_back), seconds=rng.randint(0, 3600))
        records.append(
            UsageRecord(
                organization_id=api_key.organization_id,
                api_key=api_key,
                user_id=api_key.created_by_id,
                requested_model=model,
                model=served or model,
                tier={"nexevo/fast": "fast", "nexevo/balanced": "balanced"}.get(model, "passthrough"),
                prompt_tokens=rng.randint(1, 5000),
                completion_tokens=rng.randint(1, 2000),
                cost_usd=Decimal(rng.randint(1, 999_999)) / 1_000_000,
                created_at=created,
                day=created.astimezone(datetime.UTC).date(),
            )
        )
    UsageRecord.objects.bulk_create(records, batch_size=5000)


def raw_sums():
    return list(
        UsageRecord.objects.values("organization_id", "api_key_id", "day", "tier", "model")
        .annotate(
            requests=Count("pk"),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            cost_usd=Sum("cost_usd"),
        )
        .order_by("day", "tier", "model")
    )


def rolled_sums():
    return list(
        DailyUsage.objects.values(
            "organization_id",
            "api_key_id",
            "day",
            "tier",
            "model",
            "requests",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
        ).order_by("day", "tier", "model")
    )


def test_the_totals_equal_the_raw_sums_and_a_second_run_changes_nothing(alice_key):
    bulk_usage(alice_key[0], 3000)
    assert usage_rollup(batch_size=700) == 3000
    assert rolled_sums() == raw_sums()
    assert usage_rollup() == 0
    assert rolled_sums() == raw_sums()


def test_it_is_incremental(alice_key):
    api_key = alice_key[0]
    bulk_usage(api_key, 500, seed=1)
    usage_rollup()
    bulk_usage(api_key, 400, seed=2)
    assert usage_rollup() == 400
    assert rolled_sums() == raw_sums()


def test_reads_include_records_not_rolled_up_yet(api_as, alice_key):
    api_key, full_key = alice_key
    use(api_key, "nexevo/fast")
    usage_rollup()
    use(api_key, "nexevo/fast")  # the tail
    use(api_key, "openai/gpt-4o-mini")
    body = api_as(full_key).get("/v1/billing/usage?days=7").json()
    today = body["days"][-1]
    assert today["date"] == timezone.now().astimezone(datetime.UTC).date().isoformat()
    assert today["requests"] == 3
    assert today["by_tier"]["fast"] == {
        "requests": 2,
        "prompt_tokens": 2000,
        "completion_tokens": 1000,
        "cost_usd": "0.001",
    }
    assert today["by_tier"]["passthrough"]["cost_usd"] == "0.000472"
    assert today["by_tier"]["byok"] == {
        "requests": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": "0.00",
    }
    assert body["totals"]["cost_usd"] == "0.001472"


def test_usage_lists_every_day_and_tier_with_zeros(api_as, alice_key):
    body = api_as(alice_key[1]).get("/v1/billing/usage?days=7").json()
    assert len(body["days"]) == 7
    assert all(set(day["by_tier"]) == {"fast", "balanced", "passthrough", "byok"} for day in body["days"])
    assert body["totals"]["requests"] == 0 and body["totals"]["cost_usd"] == "0.00"
    dates = [day["date"] for day in body["days"]]
    assert dates == sorted(dates)


@pytest.mark.parametrize("days", ["0", "367", "abc", "-1", "1.5", ""])
def test_days_out_of_range_is_a_400(api_as, alice_key, days):
    response = api_as(alice_key[1]).get(f"/v1/billing/usage?days={days}")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "days"


def test_usage_reads_cost_the_same_queries_for_10_and_100_000_records(
    api_as, alice_key, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api_key, full_key = alice_key
    client = api_as(full_key)
    bulk_usage(api_key, 10)
    usage_rollup()
    bulk_usage(api_key, 5, seed=3)  # a tail as well
    client.get("/v1/billing/usage?days=30")
    with CaptureQueriesContext(connection) as few:
        small = client.get("/v1/billing/usage?days=30").json()

    bulk_usage(api_key, 100_000, seed=4)
    usage_rollup()
    bulk_usage(api_key, 5, seed=5)
    with django_assert_num_queries(len(few.captured_queries)):
        large = client.get("/v1/billing/usage?days=30").json()
    assert large["totals"]["requests"] == small["totals"]["requests"] + 100_005


def test_the_usage_page_costs_the_same_queries_for_10_and_100_000_records(
    alice, alice_key, django_assert_num_queries
):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    api_key = alice_key[0]
    browser = Client()
    browser.force_login(alice)
    bulk_usage(api_key, 10)
    usage_rollup()
    bulk_usage(api_key, 5, seed=3)
    browser.get("/billing/usage/?days=30")
    with CaptureQueriesContext(connection) as few:
        page = browser.get("/billing/usage/?days=30")
    assert page.status_code == 200 and "<rect" in page.content.decode()
    bulk_usage(api_key, 100_000, seed=4)
    usage_rollup()
    with django_assert_num_queries(len(few.captured_queries)):
        assert browser.get("/billing/usage/?days=30").status_code == 200
