"""Plans: reading, changing (the rest of the month charged), renewal on the 1st, and the upgrade hint."""

import datetime
from decimal import Decimal

import pytest
import time_machine

from billing.models import LedgerEntry, Plan, UsageRecord
from billing.rollup import usage_rollup
from billing.selectors import account_with_plan
from billing.services import plans_renew
from orgs.models import AuditEvent
from tests.billing.helpers import credit, use


def test_get_plan_shows_the_fee_and_rates(api_as, alice_key):
    plan = api_as(alice_key[1]).get("/v1/billing/plan").json()
    assert plan == {
        "plan_id": "payg",
        "name": "Pay as you go",
        "monthly_fee_usd": "0.00",
        "rates": {
            "fast": {"input_per_million_usd": "0.20", "output_per_million_usd": "0.60"},
            "balanced": {"input_per_million_usd": "1.00", "output_per_million_usd": "3.00"},
        },
        "passthrough_markup_pct": "5",
        "byok_fee_pct": "3",
    }


def test_changing_plan_charges_the_rest_of_the_month(api_as, alice_key):
    organization = alice_key[0].organization
    credit(organization, "100")
    # 11 November: 20 of November's 30 days are left, today included: 49.00 × 20/30 = 32.666… → 32.67
    with time_machine.travel(datetime.datetime(2026, 11, 11, 9, 0, tzinfo=datetime.UTC), tick=False):
        response = api_as(alice_key[1]).post("/v1/billing/plan", {"plan_id": "pro"}, format="json")
    assert response.status_code == 200 and response.json()["plan_id"] == "pro"
    fee = LedgerEntry.objects.get(kind="plan_fee")
    assert fee.amount_usd == Decimal("-32.67")
    assert account_with_plan(organization).balance_usd == Decimal("67.33")
    assert AuditEvent.objects.filter(organization=organization, action="billing.plan_changed").exists()


def test_a_plan_the_balance_cannot_cover_is_a_402(api_as, alice_key):
    credit(alice_key[0].organization, "10")
    response = api_as(alice_key[1]).post("/v1/billing/plan", {"plan_id": "scale"}, format="json")
    assert response.status_code == 402
    assert response.json()["error"] == {
        **response.json()["error"],
        "type": "billing_error",
        "code": "insufficient_balance",
    }
    assert account_with_plan(alice_key[0].organization).plan_id == "payg"
    assert not LedgerEntry.objects.filter(kind="plan_fee").exists()


@pytest.mark.parametrize("plan_id", ["gold", "", 5, None])
def test_an_unknown_plan_is_a_400(api_as, alice_key, plan_id):
    response = api_as(alice_key[1]).post("/v1/billing/plan", {"plan_id": plan_id}, format="json")
    assert response.status_code == 400


def test_renewal_charges_once_a_month_and_lapses_when_the_balance_is_short(api_as, alice_key):
    organization = alice_key[0].organization
    credit(organization, "100")
    with time_machine.travel(datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC), tick=False):
        api_as(alice_key[1]).post("/v1/billing/plan", {"plan_id": "pro"}, format="json")  # 49 × 1/30 = 1.63
    with time_machine.travel(datetime.datetime(2026, 12, 1, 0, 5, tzinfo=datetime.UTC), tick=False):
        assert plans_renew() == 1
        assert plans_renew() == 0  # twice in a month changes nothing
    assert account_with_plan(organization).balance_usd == Decimal("100") - Decimal("1.63") - Decimal("49.00")
    with time_machine.travel(datetime.datetime(2027, 1, 1, 0, 5, tzinfo=datetime.UTC), tick=False):
        assert plans_renew() == 1  # 49.37 covers another 49.00
    account = account_with_plan(organization)
    assert account.plan_id == "pro" and account.balance_usd == Decimal("0.37")
    with time_machine.travel(datetime.datetime(2027, 2, 1, 0, 5, tzinfo=datetime.UTC), tick=False):
        plans_renew()
    account = account_with_plan(organization)
    assert account.plan_id == "payg" and account.balance_usd == Decimal("0.37")
    assert AuditEvent.objects.filter(organization=organization, action="billing.plan_lapsed").exists()


def test_no_usage_means_no_hint(api_as, alice_key):
    assert api_as(alice_key[1]).get("/v1/billing/upgrade-hint").json() == {"hint": None}


def ten_days_of_balanced_usage(api_key, *, prompt_per_day: int, completion_per_day: int, hours_back: int):
    """Ten days of ``nexevo/balanced`` usage, one record a day, written in bulk."""
    now = datetime.datetime.now(datetime.UTC)
    UsageRecord.objects.bulk_create(
        [
            UsageRecord(
                organization_id=api_key.organization_id,
                api_key=api_key,
                user_id=api_key.created_by_id,
                requested_model="nexevo/balanced",
                model="openai/gpt-4o",
                tier="balanced",
                prompt_tokens=prompt_per_day,
                completion_tokens=completion_per_day,
                cost_usd=Decimal("1"),
                created_at=now - datetime.timedelta(days=day, hours=hours_back),
                day=(now - datetime.timedelta(days=day, hours=hours_back)).date(),
            )
            for day in range(10)
        ]
    )


def test_the_hint_recommends_pro_with_the_percentage_worked_out_by_hand(api_as, alice_key):
    api_key, client = alice_key[0], api_as(alice_key[1])
    ten_days_of_balanced_usage(api_key, prompt_per_day=5_000_000, completion_per_day=2_000_000, hours_back=0)
    usage_rollup()
    # 50M prompt + 20M completion tokens:
    # payg:  0     + 50 × 1.00 + 20 × 3.00 = 110.00
    # pro:   49.00 + 50 × 0.80 + 20 × 2.40 = 49 + 40 + 48 = 137.00
    # scale: 499.00 + 50 × 0.60 + 20 × 1.80 = 565.00  → payg is cheapest: no hint
    assert client.get("/v1/billing/upgrade-hint").json() == {"hint": None}
    ten_days_of_balanced_usage(api_key, prompt_per_day=15_000_000, completion_per_day=6_000_000, hours_back=1)
    # Now 200M prompt + 80M completion:
    # payg:  200 × 1.00 + 80 × 3.00 = 440.00
    # pro:   49 + 200 × 0.80 + 80 × 2.40 = 49 + 160 + 192 = 401.00
    # scale: 499 + 200 × 0.60 + 80 × 1.80 = 499 + 120 + 144 = 763.00
    # pro saves 39.00 of 440.00 = 8.86% < 10%: still no hint
    assert client.get("/v1/billing/upgrade-hint").json() == {"hint": None}
    ten_days_of_balanced_usage(
        api_key, prompt_per_day=30_000_000, completion_per_day=12_000_000, hours_back=2
    )
    # Now 500M prompt + 200M completion:
    # payg:  500 + 600 = 1100.00
    # pro:   49 + 400 + 480 = 929.00
    # scale: 499 + 300 + 360 = 1159.00
    # pro saves 171.00 of 1100.00 = 15.545…% → "15.5"
    hint = client.get("/v1/billing/upgrade-hint").json()["hint"]
    assert hint == {
        "current_plan": "payg",
        "recommend_plan": "pro",
        "savings_pct": "15.5",
        "estimated_monthly_savings_usd": "171.00",
        "based_on_days": 30,
    }


def test_prices_are_data(alice_key):
    Plan.objects.filter(id="payg").update(fast_input_per_million_usd=Decimal("2.00"))
    assert str(use(alice_key[0], "nexevo/fast").cost_usd) == "0.002300"  # 1000 × 2.00 + 500 × 0.60, per 1M
