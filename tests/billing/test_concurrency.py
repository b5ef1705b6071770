"""Money under concurrency, on PostgreSQL with real row locks (CI's second pass)."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.test import Client

from apikeys.models import ApiKey
from billing.models import LedgerEntry, UsageRecord
from billing.selectors import account_with_plan
from billing.services import checkout_create
from tests.billing.helpers import use
from tests.conftest import make_user, new_key
from tests.fakes.stripe_server import event, sign

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's row locks")


def in_threads(function, count: int, workers: int = 20) -> list:
    def run(index):
        try:
            return function(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(count)))


def test_200_concurrent_recordings_add_up_to_the_micro_dollar(transactional_db):
    user = make_user("busy@example.com")
    api_key, _ = new_key(user)
    models = ["nexevo/fast", "nexevo/balanced", "openai/gpt-4o-mini"]
    in_threads(
        lambda index: use(
            ApiKey.objects.select_related("organization").get(pk=api_key.pk),
            models[index % 3],
            prompt=100 + index,
            completion=50 + index,
        ),
        200,
    )

    records = list(UsageRecord.objects.filter(api_key=api_key))
    assert len(records) == 200
    exact = sum((record.cost_usd for record in records), Decimal(0))
    assert account_with_plan(api_key.organization).balance_usd == -exact
    assert (
        sum(
            LedgerEntry.objects.filter(organization=api_key.organization).values_list(
                "amount_usd", flat=True
            ),
            Decimal(0),
        )
        == -exact
    )
    api_key.refresh_from_db()
    assert api_key.month_to_date_spend() == exact


def test_the_same_completed_session_sent_10_times_at_once_credits_once(transactional_db, stripe):
    user = make_user("payer@example.com")
    membership = user.memberships.get()
    top_up = checkout_create(membership=membership, amount_usd="20", idempotency_key="concurrent-1")
    payload = event(
        "checkout.session.completed",
        {"id": top_up.session_id, "amount_total": 2000, "currency": "usd", "payment_status": "paid"},
        event_id="evt_concurrent",
    )
    header = sign(payload, "whsec_test_nexevo")

    def deliver(_index):
        return (
            Client()
            .post(
                "/v1/billing/stripe/webhook",
                payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )
            .status_code
        )

    assert set(in_threads(deliver, 10, workers=10)) == {200}
    assert account_with_plan(membership.organization).balance_usd == Decimal("20")
    assert LedgerEntry.objects.filter(kind="top_up").count() == 1


def test_usage_keeps_being_recorded_while_plans_change(transactional_db):
    from billing.services import plan_change
    from tests.billing.helpers import credit

    alice, bob = make_user("a@example.com"), make_user("b@example.com")
    alices_key, _ = new_key(alice)
    bobs_key, _ = new_key(bob)
    credit(alices_key.organization, "100")
    alice_membership = alice.memberships.get()

    def work(index):
        if index == 0:
            return plan_change(membership=alice_membership, plan_id="pro")
        key = alices_key if index % 2 else bobs_key
        return use(ApiKey.objects.select_related("organization").get(pk=key.pk), "nexevo/fast")

    results = in_threads(work, 41, workers=12)
    assert len(results) == 41
    assert UsageRecord.objects.count() == 40
    assert account_with_plan(alices_key.organization).plan_id == "pro"
