"""Recording a generation: the tier, the price under the plan, the ledger, the key's month."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core import mail

from apikeys.models import ApiKey
from billing.models import BillingAccount, LedgerEntry, UsageRecord
from billing.pricing import UnknownModel
from billing.services import low_balance_threshold_set
from tests.billing.helpers import credit, use

# 1,000 prompt + 500 completion tokens on payg:
#   fast        1000 × 0.20/1M + 500 × 0.60/1M                 = 0.000200 + 0.000300 = 0.000500
#   balanced    1000 × 1.00/1M + 500 × 3.00/1M                 = 0.001000 + 0.001500 = 0.002500
#   passthrough gpt-4o-mini list 0.15/0.60: 0.000150 + 0.000300 = 0.000450, +5% = 0.0004725 → 0.000472
#   byok        0.000450 × 3%                                   = 0.0000135 → 0.000014 (half to even)
CASES = [
    ("nexevo/fast", None, False, "fast", "0.000500"),
    ("nexevo/balanced", "openai/gpt-4o", False, "balanced", "0.002500"),
    ("openai/gpt-4o-mini", None, False, "passthrough", "0.000472"),
    ("openai/gpt-4o-mini", None, True, "byok", "0.000014"),
]


@pytest.mark.parametrize(("model", "served", "byok", "tier", "cost"), CASES)
def test_it_prices_each_tier_exactly(alice_key, model, served, byok, tier, cost):
    api_key, _ = alice_key
    record = use(api_key, model, served=served, byok=byok)
    assert record.id.startswith("gen_")
    assert (record.tier, str(record.cost_usd)) == (tier, cost)
    assert record.model == (served or model) and record.requested_model == model
    entry = LedgerEntry.objects.get(reference=record.id)
    assert (entry.kind, str(entry.amount_usd)) == ("usage", f"-{cost}")
    account = BillingAccount.objects.get(organization=api_key.organization)
    assert account.balance_usd == -Decimal(cost)
    api_key.refresh_from_db()
    assert api_key.month_to_date_spend() == Decimal(cost)


def test_it_refuses_a_model_without_a_list_price(alice_key):
    with pytest.raises(UnknownModel):
        use(alice_key[0], "acme/unknown-model")
    assert not UsageRecord.objects.exists() and not LedgerEntry.objects.exists()


def test_the_key_month_restarts_on_the_first_utc(alice_key):
    api_key, _ = alice_key
    with time_machine.travel(datetime(2026, 1, 31, 23, 59, tzinfo=UTC), tick=False):
        use(api_key, "nexevo/balanced")
        use(api_key, "nexevo/balanced")
        api_key.refresh_from_db()
        assert api_key.month_to_date_spend() == Decimal("0.005000")
    with time_machine.travel(datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC), tick=False):
        api_key.refresh_from_db()
        assert api_key.month_to_date_spend() == 0
        use(api_key, "nexevo/fast")
        api_key.refresh_from_db()
        assert api_key.month_to_date_spend() == Decimal("0.000500")
        assert ApiKey.objects.get(pk=api_key.pk).spend_month.isoformat() == "2026-02-01"


def test_a_plan_prices_with_its_own_rates(alice_key):
    api_key, _ = alice_key
    from billing.models import Plan
    from billing.services import account_for

    account = account_for(api_key.organization)
    account.plan = Plan.objects.get(id="scale")
    account.save()
    assert str(use(api_key, "nexevo/fast").cost_usd) == "0.000250"  # 1000 × 0.10 + 500 × 0.30, per 1M


def test_owners_and_admins_hear_once_per_crossing_of_the_low_balance_line(
    alice, alice_key, django_capture_on_commit_callbacks
):
    api_key, _ = alice_key
    membership = alice.memberships.get()
    credit(api_key.organization, "1.0075")
    low_balance_threshold_set(membership=membership, amount="1.00")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            use(api_key, "nexevo/balanced")  # 1.0050, 1.0025, 1.0000: not under the line
        assert mail.outbox == []
        use(api_key, "nexevo/balanced")  # 0.9975: crossed
        use(api_key, "nexevo/balanced")  # still under: no second e-mail
    assert [message.to for message in mail.outbox] == [[alice.email]]
    assert "$0.9975" in mail.outbox[0].body and "Personal workspace" in mail.outbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        credit(api_key.organization, "1")  # back above the line: re-armed
        use(api_key, "nexevo/balanced")
        assert len(mail.outbox) == 1
        credit(api_key.organization, "-1")  # under again: a new crossing
    assert len(mail.outbox) == 2
