"""Changing plan: the confirmation page shows the exact amounts, confirming charges exactly those (or
shows the new ones when they changed meanwhile), and the unused days of a fee paid are credited back.

November 2026 has 30 days. Pro's fee is $49.00, Scale's $499.00; Pay as you go has none."""

import datetime
import re
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from billing.models import BillingAccount, EntryKind, LedgerEntry, Plan
from billing.selectors import account_with_plan
from billing.services import plans_renew
from core.templatetags.money import signed_dollars
from orgs.models import AuditEvent
from tests.billing.helpers import credit
from tests.orgs.helpers import acme_with


def at(year, month, day, hour=9, minute=0, second=0):
    return time_machine.travel(
        datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC), tick=False
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def shown(response, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">([^<]*)<', response.content.decode())
    assert match, f"nothing marked {testid}"
    return match.group(1)


def confirmation(response) -> dict:
    """The hidden fields of the confirmation form, as a browser would send them back."""
    form = re.search(r'<form[^>]*data-testid="plan-confirm-form".*?</form>', response.content.decode(), re.S)
    assert form, "no confirmation form"
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))


def plan_entries(organization):
    return list(
        LedgerEntry.objects.filter(
            organization=organization, kind__in=[EntryKind.PLAN_FEE, EntryKind.PLAN_CREDIT]
        ).order_by("created_at", "kind")  # a change's credit and fee share a time when it is frozen
    )


def change_on_the_page(client, plan_id: str):
    page = client.get("/billing/plan/", {"plan_id": plan_id})
    assert page.status_code == 200
    return page, client.post("/billing/plan/", confirmation(page))


@pytest.fixture
def organization(alice):
    return alice.memberships.get().organization


def test_it_charges_exactly_what_the_confirmation_page_showed(alice, organization):
    credit(organization, "100")
    client = signed_in(alice)
    with at(2026, 11, 11):
        page, response = change_on_the_page(client, "pro")
    # 20 of November's 30 days are left, today included: 49.00 × 20 / 30 = 32.666… → 32.67
    assert shown(page, "quote-charge") == "-$32.67"
    assert shown(page, "quote-credit") == "$0.00"
    assert shown(page, "quote-balance-after") == "$67.33"
    assert response.status_code == 302
    [fee] = plan_entries(organization)
    assert signed_dollars(fee.amount_usd) == shown(page, "quote-charge")
    assert fee.kind == EntryKind.PLAN_FEE
    account = account_with_plan(organization)
    assert account.plan_id == "pro"
    assert f"${account.balance_usd:.2f}" == shown(page, "quote-balance-after")
    assert (account.plan_paid_usd, account.plan_paid_from) == (Decimal("32.67"), datetime.date(2026, 11, 11))
    messages = [str(message) for message in client.get("/billing/").context["messages"]]
    assert messages == ["You are on Pro now: $32.67 charged."]


def test_it_credits_the_unused_days_of_a_renewed_fee_when_moving_down(alice, organization):
    credit(organization, "100")
    client = signed_in(alice)
    with at(2026, 10, 31):
        change_on_the_page(client, "pro")  # 49.00 × 1 / 31 = 1.58
    with at(2026, 11, 1, 0, 5):
        assert plans_renew() == 1  # 49.00 for November, from the 1st
    with at(2026, 11, 21, 15, 30):
        page, response = change_on_the_page(client, "payg")
    # Paid 49.00 for the 30 days of November; the 9 days after the 21st are unused:
    # 49.00 × 9 / 30 = 14.70. Today (the 21st) counts as used.
    assert shown(page, "quote-charge") == "$0.00"
    assert shown(page, "quote-credit") == "+$14.70"
    assert shown(page, "quote-balance-after") == "$64.12"  # 100 − 1.58 − 49.00 + 14.70
    assert response.status_code == 302
    entry = plan_entries(organization)[-1]
    assert (entry.kind, entry.amount_usd) == (EntryKind.PLAN_CREDIT, Decimal("14.70"))
    assert entry.description == "Pro: 9 unused days of November 2026"
    assert entry.created_by == alice
    account = account_with_plan(organization)
    assert (account.plan_id, account.balance_usd) == ("payg", Decimal("64.12"))
    audit = AuditEvent.objects.filter(action="billing.plan_changed").latest("created_at")
    assert audit.metadata == {"from": "pro", "to": "payg", "charged": "0.00", "credited": "14.70"}


def test_it_gives_back_all_but_today_when_switching_up_and_back_the_same_minute(api_as, alice_key):
    organization = alice_key[0].organization
    with at(2026, 11, 1):
        credit(organization, "100")
    client = api_as(alice_key[1])
    with at(2026, 11, 11, 9, 0, 0):
        up = client.post("/v1/billing/plan", {"plan_id": "pro"}, format="json")
    with at(2026, 11, 11, 9, 0, 40):
        down = client.post("/v1/billing/plan", {"plan_id": "payg"}, format="json")
    assert up.status_code == down.status_code == 200
    assert down.json() == client.get("/v1/billing/plan").json()  # the plan object, as before
    assert down.json()["plan_id"] == "payg"
    fee, refund = plan_entries(organization)
    assert (fee.kind, fee.amount_usd) == (EntryKind.PLAN_FEE, Decimal("-32.67"))
    # 32.67 paid for the 20 days from the 11th; the 19 days after today are unused:
    # 32.67 × 19 / 20 = 31.0365 → 31.04. Pro for today costs 1.63.
    assert (refund.kind, refund.amount_usd) == (EntryKind.PLAN_CREDIT, Decimal("31.04"))
    assert refund.reference.startswith("plan-change:chg_") and refund.reference != fee.reference
    assert account_with_plan(organization).balance_usd == Decimal("98.37")
    transactions = client.get("/v1/billing/transactions").json()["data"]
    assert [(row["kind"], row["amount_usd"]) for row in transactions[:2]] == [
        ("plan_credit", "31.04"),
        ("plan_fee", "-32.67"),
    ]


def test_moving_up_from_a_paid_plan_credits_it_and_charges_the_new_one(alice, organization):
    credit(organization, "400")
    client = signed_in(alice)
    with at(2026, 11, 11):
        change_on_the_page(client, "pro")  # 32.67 for the 11th to the 30th
    with at(2026, 11, 15):
        page, response = change_on_the_page(client, "scale")
    # Credit: 32.67 × 15 / 20 = 24.5025 → 24.50. Charge: 499.00 × 16 / 30 = 266.1333… → 266.13.
    assert (shown(page, "quote-charge"), shown(page, "quote-credit")) == ("-$266.13", "+$24.50")
    assert shown(page, "quote-balance-after") == "$125.70"  # 400 − 32.67 + 24.50 − 266.13
    assert response.status_code == 302
    first_fee, credit_entry, second_fee = plan_entries(organization)
    assert credit_entry.reference == second_fee.reference  # one change, two entries
    assert (credit_entry.amount_usd, second_fee.amount_usd) == (Decimal("24.50"), Decimal("-266.13"))
    assert account_with_plan(organization).balance_usd == Decimal("125.70")


def test_a_change_in_a_month_without_a_fee_paid_credits_nothing(alice, organization):
    credit(organization, "100")
    client = signed_in(alice)
    with at(2026, 10, 20):
        change_on_the_page(client, "pro")
    # November's renewal has not run: nothing was paid for November, so nothing is credited.
    with at(2026, 11, 11):
        page, response = change_on_the_page(client, "payg")
    assert shown(page, "quote-credit") == "$0.00"
    assert "no fee was paid for Pro this month" in page.content.decode()
    assert response.status_code == 302
    assert [entry.kind for entry in plan_entries(organization)] == [EntryKind.PLAN_FEE]


def test_on_the_last_day_of_the_month_nothing_is_left_to_credit(alice, organization):
    credit(organization, "100")
    client = signed_in(alice)
    with at(2026, 11, 11):
        change_on_the_page(client, "pro")
    with at(2026, 11, 30, 23, 0):
        page, _response = change_on_the_page(client, "payg")
    assert shown(page, "quote-credit") == "$0.00"
    assert "no day of this month" in page.content.decode()


def test_a_quote_changed_by_the_day_rolling_over_is_shown_again_and_charges_nothing(alice, organization):
    credit(organization, "100")
    client = signed_in(alice)
    with at(2026, 11, 11, 23, 59, 30):
        page = client.get("/billing/plan/", {"plan_id": "pro"})
    assert shown(page, "quote-charge") == "-$32.67"
    with at(2026, 11, 12, 0, 0, 30):
        again = client.post("/billing/plan/", confirmation(page))
    assert again.status_code == 409
    assert 'data-testid="quote-changed"' in again.content.decode()
    assert shown(again, "quote-charge") == "-$31.03"  # 49.00 × 19 / 30
    assert plan_entries(organization) == [] and account_with_plan(organization).plan_id == "payg"
    with at(2026, 11, 12, 0, 1):
        done = client.post("/billing/plan/", confirmation(again))
    assert done.status_code == 302
    assert [entry.amount_usd for entry in plan_entries(organization)] == [Decimal("-31.03")]


def test_a_fee_edited_after_the_quote_is_shown_again_and_charges_nothing(alice, organization):
    credit(organization, "100")
    client = signed_in(alice)
    with at(2026, 11, 11):
        page = client.get("/billing/plan/", {"plan_id": "pro"})
        Plan.objects.filter(id="pro").update(monthly_fee_usd=Decimal("59.00"))
        again = client.post("/billing/plan/", confirmation(page))
    assert again.status_code == 409
    assert shown(again, "quote-charge") == "-$39.33"  # 59.00 × 20 / 30
    assert plan_entries(organization) == [] and account_with_plan(organization).plan_id == "payg"


def test_a_balance_that_fell_below_the_quote_shows_the_shortfall_and_charges_nothing(alice, organization):
    credit(organization, "40")
    client = signed_in(alice)
    with at(2026, 11, 11):
        page = client.get("/billing/plan/", {"plan_id": "pro"})
        assert 'data-testid="quote-insufficient"' not in page.content.decode()
        credit(organization, "-20")  # spent meanwhile: 20.00 left, 32.67 needed
        again = client.post("/billing/plan/", confirmation(page))
    assert again.status_code == 402
    html = again.content.decode()
    assert 'data-testid="quote-insufficient"' in html and "It needs $12.67 more" in html
    assert 'href="/billing/#balance"' in html and 'data-testid="plan-confirm-form"' not in html
    assert plan_entries(organization) == [] and account_with_plan(organization).plan_id == "payg"


def test_the_confirmation_page_says_plainly_when_the_balance_is_short(alice, organization):
    credit(organization, "10")
    with at(2026, 11, 11):
        page = signed_in(alice).get("/billing/plan/", {"plan_id": "scale"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "The balance does not cover this change." in html
    assert "It needs $322.67 more" in html  # 332.67 − 10.00
    assert 'data-testid="plan-top-up"' in html and 'data-testid="plan-confirm-form"' not in html


def test_the_credit_counts_towards_the_fee_of_the_new_plan(alice, organization):
    credit(organization, "33")
    client = signed_in(alice)
    with at(2026, 11, 11):
        change_on_the_page(client, "pro")  # 32.67: 0.33 left
    with at(2026, 11, 11, 10):
        # Scale costs 332.67; 0.33 + Pro's credit (31.04) does not cover it.
        page = client.get("/billing/plan/", {"plan_id": "scale"})
    assert "It needs $301.30 more" in page.content.decode()  # 332.67 − 31.04 − 0.33
    credit(organization, "301.30")
    with at(2026, 11, 11, 10):
        page, response = change_on_the_page(client, "scale")
    assert response.status_code == 302 and account_with_plan(organization).balance_usd == Decimal("0")


def test_choosing_the_current_or_an_unknown_plan_says_so_beside_the_plan(alice, organization):
    client = signed_in(alice)
    refusals = [("payg", "This is your plan already."), ("gold", "Choose one of the plans listed.")]
    for plan_id, message in refusals:
        response = client.get("/billing/plan/", {"plan_id": plan_id})
        assert response.status_code == 400
        assert response.context["plan_form"].errors == {"plan_id": [message]}
        assert message in response.content.decode()
    assert client.get("/billing/plan/").status_code == 302


@pytest.mark.parametrize(
    "method,data",
    [
        ("get", {"plan_id": ""}),
        ("get", {"plan_id": "x" * 5000}),
        ("get", {"plan_id": "pro\x00"}),
        ("post", {}),
        ("post", {"plan_id": "pro"}),
        ("post", {"plan_id": "pro", "charge": "abc", "credit": "0.00"}),
        ("post", {"plan_id": "pro", "charge": "1e3", "credit": "NaN"}),
        ("post", {"plan_id": "pro\x00", "charge": "32.67", "credit": "0.00"}),
        ("post", {"plan_id": ["pro", "scale"], "charge": "32.67", "credit": "0.00"}),
        ("post", {"plan_id": "gold", "charge": "32.67", "credit": "0.00", "organization_id": "org_x"}),
        ("post", {"plan_id": "pro", "charge": "-32.67", "credit": "0.00", "organization_id": "x" * 500}),
        ("post", {"plan_id": "pro", "charge": "32.6700001", "credit": "0.00", "organization_id": "\x00"}),
    ],
)
def test_no_input_makes_a_plan_change_fail_or_charge_anything(alice, organization, method, data):
    credit(organization, "100")
    response = getattr(signed_in(alice), method)("/billing/plan/", data)
    assert response.status_code in {302, 400, 404, 409}
    assert plan_entries(organization) == [] and account_with_plan(organization).plan_id == "payg"


def test_a_confirmation_without_the_amounts_shows_them_instead_of_charging(alice, organization):
    credit(organization, "100")
    with at(2026, 11, 11):
        response = signed_in(alice).post("/billing/plan/", {"plan_id": "pro"})
    assert response.status_code == 400 and shown(response, "quote-charge") == "-$32.67"
    assert plan_entries(organization) == []


def test_the_confirmation_acts_on_the_organization_it_was_shown_for(alice, organization):
    acme = acme_with(alice)
    credit(acme, "100")
    client = signed_in(alice)
    client.post("/organizations/switch/", {"organization_id": acme.id})
    with at(2026, 11, 11):
        page = client.get("/billing/plan/", {"plan_id": "pro"})
        client.post("/organizations/switch/", {"organization_id": organization.id})  # in another tab
        response = client.post("/billing/plan/", confirmation(page))
    assert response.status_code == 302
    assert account_with_plan(acme).plan_id == "pro" and account_with_plan(organization).plan_id == "payg"


def test_charlie_cannot_change_acmes_plan_and_changes_nothing(alice, charlie):
    acme = acme_with(alice)
    credit(acme, "100")
    client = signed_in(alice)
    client.post("/organizations/switch/", {"organization_id": acme.id})
    with at(2026, 11, 11):
        fields = confirmation(client.get("/billing/plan/", {"plan_id": "pro"}))
        outsider = signed_in(charlie)
        assert outsider.post("/billing/plan/", fields).status_code == 404
        session = outsider.session
        session["active_organization_id"] = acme.id
        session.save()
        page = outsider.get("/billing/plan/", {"plan_id": "pro"})
    assert acme.id not in page.content.decode() and "Acme" not in page.content.decode()  # his own
    account = BillingAccount.objects.get(organization=acme)
    assert (account.plan_id, account.balance_usd) == ("payg", Decimal("100"))
    assert plan_entries(acme) == []
    assert not AuditEvent.objects.filter(organization=acme, action="billing.plan_changed").exists()


def test_developers_cannot_see_or_confirm_a_plan_change(alice, bob):
    acme = acme_with(alice, developer=bob)
    credit(acme, "100")
    client = signed_in(bob)
    client.post("/organizations/switch/", {"organization_id": acme.id})
    assert client.get("/billing/plan/", {"plan_id": "pro"}).status_code == 403
    fields = {"plan_id": "pro", "organization_id": acme.id, "charge": "0.00", "credit": "0.00"}
    assert client.post("/billing/plan/", fields).status_code == 403
    assert account_with_plan(acme).plan_id == "payg" and plan_entries(acme) == []


def test_the_migration_reads_what_was_paid_this_month_from_the_ledger(alice, organization):
    import importlib

    from django.apps import apps

    from billing.services import ledger_post

    credit(organization, "100")
    with at(2026, 11, 11):
        ledger_post(
            organization=organization,
            kind=EntryKind.PLAN_FEE,
            amount=Decimal("-32.67"),
            reference="plan-change:chg_old",
        )
    BillingAccount.objects.filter(organization=organization).update(
        plan_id="pro", plan_paid_month=datetime.date(2026, 11, 1), plan_paid_usd=0, plan_paid_from=None
    )
    importlib.import_module("billing.migrations.0006_plan_credit").paid_this_month_from_the_ledger(apps, None)
    account = BillingAccount.objects.get(organization=organization)
    assert (account.plan_paid_usd, account.plan_paid_from) == (Decimal("32.67"), datetime.date(2026, 11, 11))


def test_a_change_that_credits_more_than_it_charges_is_taken_even_below_zero(alice, organization):
    Plan.objects.create(
        id="lite",
        name="Lite",
        monthly_fee_usd=Decimal("1.00"),
        fast_input_per_million_usd=Decimal("0.20"),
        fast_output_per_million_usd=Decimal("0.60"),
        balanced_input_per_million_usd=Decimal("1.00"),
        balanced_output_per_million_usd=Decimal("3.00"),
        passthrough_markup_pct=Decimal("5"),
        byok_fee_pct=Decimal("3"),
        position=1,
    )
    credit(organization, "100")
    client = signed_in(alice)
    with at(2026, 10, 31):
        change_on_the_page(client, "pro")  # 1.58
    with at(2026, 11, 1, 0, 5):
        plans_renew()  # 49.00
    credit(organization, "-89.42")  # 100 − 1.58 − 49.00 − 89.42 = −40.00
    with at(2026, 11, 11):
        page, response = change_on_the_page(client, "lite")
    # Charged 1.00 × 20 / 30 = 0.67, credited 49.00 × 19 / 30 = 31.03: the balance rises by 30.36.
    assert (shown(page, "quote-charge"), shown(page, "quote-credit")) == ("-$0.67", "+$31.03")
    assert 'data-testid="quote-insufficient"' not in page.content.decode()
    assert response.status_code == 302
    account = account_with_plan(organization)
    assert (account.plan_id, account.balance_usd) == ("lite", Decimal("-9.64"))


def test_a_confirmation_made_for_another_starting_plan_is_shown_again(alice, organization):
    """Two tabs: a quote from Pay as you go to Pro, then in the other tab a move to a second plan
    without a fee. The amounts of Pro are the same from either, but the change confirmed was not."""
    Plan.objects.create(
        id="starter",
        name="Starter",
        monthly_fee_usd=Decimal("0.00"),
        fast_input_per_million_usd=Decimal("0.20"),
        fast_output_per_million_usd=Decimal("0.60"),
        balanced_input_per_million_usd=Decimal("1.00"),
        balanced_output_per_million_usd=Decimal("3.00"),
        passthrough_markup_pct=Decimal("5"),
        byok_fee_pct=Decimal("3"),
        position=1,
    )
    credit(organization, "100")
    client = signed_in(alice)
    with at(2026, 11, 11):
        first_tab = client.get("/billing/plan/", {"plan_id": "pro"})
        change_on_the_page(client, "starter")
        response = client.post("/billing/plan/", confirmation(first_tab))

    assert response.status_code == 409
    assert account_with_plan(organization).plan_id == "starter"
    assert plan_entries(organization) == []
