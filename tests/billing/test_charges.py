"""billing.charges (the one statement, PostgreSQL) against billing.services.usage_record (the ORM,
its reference and SQLite's path): the same charges in the same order, through both, leave the same
ledger, balances, key spend and low-balance crossings, and each charge answers what the reference
left after it."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from apikeys.models import ApiKey
from billing import pricing
from billing.charges import WRITTEN_BEFORE, Charges, charge_alerts_send, charge_parameters, charges_write
from billing.models import BillingAccount, LedgerEntry, UsageRecord
from billing.services import account_for, low_balance_threshold_set, usage_record
from core.months import month_began, month_start
from tests.billing.helpers import credit
from tests.conftest import new_key

NOW = timezone.now()
LAST_MONTH = month_began(NOW) - datetime.timedelta(days=3)  # a late entry, written after the month turned
NEXT_MONTH = month_began(NOW) + datetime.timedelta(days=40)

# Steps: ("charge", key, model, prompt tokens, completion tokens, when) or ("credit", amount); the
# charges between two credits go to billing.charges as one batch. nexevo/balanced at 1000 and 500
# tokens costs $0.0025 on the default plan; the line is at $1.00 and the balance starts at $1.0075.
STEPS = [
    ("charge", 0, "nexevo/balanced", 1000, 500, NOW),  # 1.0050
    ("charge", 1, "nexevo/balanced", 1000, 500, NOW),  # 1.0025
    ("charge", 0, "nexevo/fast", 4000, 2000, NOW),
    ("charge", 0, "nexevo/balanced", 1000, 500, LAST_MONTH),  # late: key 0's spend stays this month's
    ("charge", 1, "nexevo/balanced", 1000, 500, NOW),  # under the line: the e-mail
    ("charge", 1, "nexevo/balanced", 1000, 500, NOW),  # still under: no second one
    ("credit", "1"),  # back over the line: re-armed
    ("charge", 0, "nexevo/balanced", 7000, 3000, NEXT_MONTH),  # key 0 starts next month afresh
    ("charge", 0, "nexevo/balanced", 1000, 500, NOW),  # and this month's cost, after it, leaves it
    ("charge", 1, "nexevo/balanced", 1000, 500, NOW),
    ("credit", "-1"),  # under again: a second crossing
    ("charge", 0, "nexevo/balanced", 1000, 500, NOW),  # a batch of late costs only, for key 0
    ("credit", "0.0025"),
    ("charge", 1, "nexevo/fast", 1000, 500, NOW),
]


@pytest.fixture
def postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("billing.charges' statement is PostgreSQL's")


def two_keys(user):
    keys = [new_key(user, name=f"key {index}")[0] for index in range(2)]
    organization = keys[0].organization
    credit(organization, "1.0075")
    low_balance_threshold_set(membership=user.memberships.get(), amount="1.00")
    return keys


def through_the_orm(keys) -> list:
    """The steps through usage_record; after each charge, what it left (balance, key month, spend)."""
    left = []
    for index, step in enumerate(STEPS):
        if step[0] == "credit":
            credit(keys[0].organization, step[1])
            continue
        _charge, key, model, prompt, completion, when = step
        usage_record(
            api_key=keys[key],
            requested_model=model,
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            generation_id=f"gen_orm_{index}",
            now=when,
        )
        account = BillingAccount.objects.get(organization=keys[0].organization)
        api_key = ApiKey.objects.get(pk=keys[key].pk)
        left.append((account.balance_usd, api_key.spend_month, api_key.spend_month_to_date_usd))
    return left


def through_the_statement(keys) -> list:
    """The same steps through billing.charges, the charges between credits in one batch; what each
    charge answered."""
    charges, answered, batch = Charges(), [], []

    def write():
        for charge in charges_write(charges, batch):
            charge_alerts_send(charge)
            answered.append((charge.balance, charge.month, charge.spend))
        batch.clear()

    plan = account_for(keys[0].organization).plan
    for index, step in enumerate(STEPS):
        if step[0] == "credit":
            write()
            credit(keys[0].organization, step[1])
            continue
        _charge, key, model, prompt, completion, when = step
        tier = pricing.tier_for(model)
        cost = pricing.cost(
            plan=plan, tier=tier, model=model, prompt_tokens=prompt, completion_tokens=completion
        )
        batch.append(
            charge_parameters(
                api_key=keys[key],
                plan=plan.pk,
                generation=f"gen_sql_{index}",
                requested_model=model,
                model=model,
                tier=tier,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost=cost,
                now=when,
            )
        )
    write()
    return answered


def state(keys) -> dict:
    organization = keys[0].organization
    account = BillingAccount.objects.get(organization=organization)
    ledger = LedgerEntry.objects.filter(organization=organization)
    return {
        "balance": account.balance_usd,
        "alerted": account.low_balance_alerted,
        "ledger sum": sum(entry.amount_usd for entry in ledger),
        # the generation's step for a usage entry; a credit's reference is its own
        "usage entries": sorted(
            (entry.reference.rsplit("_", 1)[1], entry.kind, entry.amount_usd, entry.description)
            for entry in ledger
            if entry.reference.startswith("gen_")
        ),
        "credits": sorted(entry.amount_usd for entry in ledger if not entry.reference.startswith("gen_")),
        "usage records": sorted(
            (record.id.rsplit("_", 1)[1], record.model, record.tier, record.cost_usd, record.day)
            for record in UsageRecord.objects.filter(organization=organization)
        ),
        "keys": [
            ApiKey.objects.values_list("spend_month", "spend_month_to_date_usd").get(pk=api_key.pk)
            for api_key in keys
        ],
    }


def test_it_leaves_what_the_reference_path_leaves(postgresql, alice, bob, django_capture_on_commit_callbacks):
    by_the_orm, by_the_statement = two_keys(alice), two_keys(bob)
    with django_capture_on_commit_callbacks(execute=True):
        orm_left = through_the_orm(by_the_orm)
    with django_capture_on_commit_callbacks(execute=True):
        statement_left = through_the_statement(by_the_statement)

    assert statement_left == orm_left  # each charge answers what the reference left after it
    reference, written = state(by_the_orm), state(by_the_statement)
    assert written == reference
    assert reference["balance"] == reference["ledger sum"] == Decimal("0.971500")
    # the later month's spend stays: next month's $0.016 on key 0 (7,000 × $1.00/M + 3,000 × $3.00/M)
    assert reference["keys"][0] == (month_start(NEXT_MONTH), Decimal("0.016000"))
    # two crossings each, as many e-mails: to Alice for hers, to Bob for his
    crossings = {
        address: [message.to for message in mail.outbox].count([address])
        for address in (alice.email, bob.email)
    }
    assert crossings == {alice.email: 2, bob.email: 2}


def test_an_entry_written_before_is_not_charged_again(postgresql, bob):
    api_key, _other = two_keys(bob)
    plan = account_for(api_key.organization).plan
    charge = charge_parameters(
        api_key=api_key,
        plan=None,
        generation="gen_twice",
        requested_model="nexevo/balanced",
        model="nexevo/balanced",
        tier="balanced",
        prompt_tokens=1000,
        completion_tokens=500,
        cost=Decimal("0.0025"),
        now=NOW,
    )
    other_plan_charge = {
        **charge,
        "generation": "gen_other_plan",
        "entry": "txn_other",
        "plan": f"not-{plan.pk}",
    }
    (first,) = charges_write(Charges(), [charge])
    again = charges_write(Charges(), [charge, other_plan_charge])
    assert first.balance == Decimal("1.0050")
    assert again == [WRITTEN_BEFORE, None]  # and one priced under a plan the account is not on
    assert BillingAccount.objects.get(organization=api_key.organization).balance_usd == Decimal("1.0050")
    assert UsageRecord.objects.filter(organization=api_key.organization).count() == 1
