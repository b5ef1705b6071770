"""The Billing page: payments apart from usage, usage one row per UTC day, signed amounts in dollars,
each list with its own pager, a query count that does not grow with the ledger, and forms that show
their errors beside the field with the input kept."""

import datetime
import re
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.models import BillingAccount, EntryKind, TopUp, UsageRecord
from billing.rollup import usage_rollup
from billing.selectors import account_with_plan
from billing.services import ledger_post, plan_change
from core.ids import new_id
from tests.billing.helpers import credit, use


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows(response, testid: str) -> list[list[str]]:
    """The text of each cell of a table's body rows."""
    html = response.content.decode()
    table = re.search(rf'<table[^>]*data-testid="{testid}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert table, f"no table {testid}"
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    ]


def field(response, name: str) -> str:
    """The markup of the form field ``name`` (includes/field.html): label, input, help and errors."""
    match = re.search(
        rf'<div class="field[^"]*">(?:(?!</div>).)*name="{name}"(?:(?!</div>).)*</div>',
        response.content.decode(),
        re.S,
    )
    assert match, f"no field {name}"
    return match.group(0)


def on(day: int, hour: int = 12):
    return time_machine.travel(datetime.datetime(2026, 11, day, hour, tzinfo=datetime.UTC), tick=False)


def payment(organization, kind: str, amount: str, description: str = "") -> None:
    ledger_post(
        organization=organization,
        kind=kind,
        amount=Decimal(amount),
        reference=new_id("ref"),
        description=description,
    )


def test_it_lists_payments_apart_from_usage_and_usage_one_row_per_day(alice, alice_key):
    api_key = alice_key[0]
    organization = api_key.organization
    with on(9):
        payment(organization, EntryKind.TOP_UP, "100", "Stripe top-up")
        use(api_key, "nexevo/fast")  # 1000 in + 500 out at 0.20 / 0.60 per 1M: 0.0005
        use(api_key, "nexevo/fast")
    with on(10):
        use(api_key, "nexevo/balanced")  # 1000 × 1.00 + 500 × 3.00 per 1M: 0.0025
        plan_change(membership=alice.memberships.get(), plan_id="pro")  # 49.00 × 21 / 30 = 34.30
    usage_rollup()
    with on(10, 13):
        use(api_key, "nexevo/fast")  # not rolled up yet: still counted on its day
    with on(10, 14):
        page = signed_in(alice).get("/billing/")
    assert page.status_code == 200
    payments = rows(page, "payments")
    assert [row[-1] for row in payments] == ["-$34.30", "+$100.00"]
    assert payments[0][0].startswith("Plan fee Pro for the rest of November 2026 (21 days) 2026-11-10 12:00")
    assert payments[1][0].startswith("Top-up Stripe top-up 2026-11-09 12:00 · ref_")
    assert rows(page, "usage-days") == [
        ["2026-11-10", "2", "-$0.002875"],  # the last at Pro's rates
        ["2026-11-09", "2", "-$0.001"],
    ]
    assert 'data-testid="balance">$65.696125<' in page.content.decode()  # 100 − 34.30 − 0.003875


def test_each_list_pages_with_its_own_cursor(alice, alice_key):
    api_key = alice_key[0]
    organization = api_key.organization
    for day in range(1, 26):
        with on(day):
            payment(organization, EntryKind.ADJUSTMENT, f"{day}.00", f"credit {day}")
    records = [
        UsageRecord(
            organization=organization,
            api_key=api_key,
            user=alice,
            requested_model="nexevo/fast",
            model="nexevo/fast",
            tier="fast",
            prompt_tokens=10,
            completion_tokens=10,
            cost_usd=Decimal("0.01"),
            created_at=datetime.datetime(2026, 10, 1, 12, tzinfo=datetime.UTC) + datetime.timedelta(days=day),
            day=datetime.date(2026, 10, 1) + datetime.timedelta(days=day),
        )
        for day in range(40)
    ]
    UsageRecord.objects.bulk_create(records)
    client = signed_in(alice)
    first = client.get("/billing/")
    assert len(rows(first, "payments")) == 10 and len(rows(first, "usage-days")) == 14
    next_links = re.findall(r'href="\?([^"]+)" data-testid="pager-next"', first.content.decode())
    assert [link.split("=")[0] for link in next_links] == ["payments_cursor", "usage_cursor"]

    older_payments = client.get("/billing/?" + next_links[0].replace("&amp;", "&"))
    descriptions = [row[0].split()[1:3] for row in rows(older_payments, "payments")]
    assert descriptions == [["credit", f"{day}"] for day in range(15, 5, -1)]
    assert rows(older_payments, "usage-days")[0][0] == "2026-11-09"  # the usage list did not move

    older_days = client.get("/billing/?" + next_links[1].replace("&amp;", "&"))
    assert [row[0] for row in rows(older_days, "usage-days")] == [
        f"2026-10-{day:02d}" for day in range(26, 12, -1)
    ]
    assert len(rows(older_days, "payments")) == 10
    assert 'data-testid="pager-first"' in older_days.content.decode()
    assert client.get("/billing/?usage_cursor=yesterday").status_code == 302  # a garbled cursor: no 500


def test_the_page_costs_the_same_queries_for_few_and_many_ledger_entries(alice, alice_key):
    api_key = alice_key[0]
    organization = api_key.organization
    client = signed_in(alice)
    with on(20):
        credit(organization, "50")
        use(api_key)
        client.get("/billing/")  # the billing account exists from here on
        with CaptureQueriesContext(connection) as few:
            client.get("/billing/")
    for day in range(1, 20):
        with on(day):
            payment(organization, EntryKind.TOP_UP, "10", "top-up")
            payment(organization, EntryKind.ADJUSTMENT, "-1", "correction")
            for _ in range(3):
                use(api_key)
    usage_rollup()
    with on(20):
        use(api_key)
        with CaptureQueriesContext(connection) as many:
            page = client.get("/billing/")
    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(rows(page, "payments")) == 10 and len(rows(page, "usage-days")) == 14
    assert rows(page, "usage-days")[1] == ["2026-11-19", "3", "-$0.0015"]


def test_the_csv_export_is_still_the_whole_ledger(alice, alice_key):
    organization = alice_key[0].organization
    credit(organization, "100")
    use(alice_key[0])
    plan_change(membership=alice.memberships.get(), plan_id="pro")
    plan_change(membership=alice.memberships.get(), plan_id="payg")
    csv = b"".join(signed_in(alice).get("/billing/transactions.csv").streaming_content).decode()
    kinds = [line.split(",")[2] for line in csv.splitlines()[1:]]
    assert sorted(kinds) == ["adjustment", "plan_credit", "plan_fee", "usage"]


def test_the_page_says_how_a_plan_change_is_credited(alice):
    page = signed_in(alice).get("/billing/").content.decode()
    assert "Changing plan, to a cheaper one or not, credits the unused days of the fee paid" in page


def test_a_top_up_amount_refused_is_explained_beside_it_and_kept(alice, stripe):
    client = signed_in(alice)
    key = client.get("/billing/").context["top_up_form"].initial["idempotency_key"]
    for amount, message in [
        ("1", "The amount must be at least 5.00."),
        ("12.345", "The amount may have at most 2 decimal places."),
        ("twenty", "The amount must be a decimal number such as &quot;20.00&quot;."),
        ("", "This field is required."),
    ]:
        response = client.post("/billing/top-up/", {"amount_usd": amount, "idempotency_key": key})
        assert response.status_code == 400
        amount_field = field(response, "amount_usd")
        assert "has-error" in amount_field and message in amount_field
        assert f'value="{amount}"' in amount_field if amount else "value=" not in amount_field
        assert "amount_usd" not in re.sub(r"<[^>]+>", "", amount_field)  # the API's name is not shown
    assert not TopUp.objects.exists() and stripe.requests == []


def test_a_top_up_form_reused_for_another_amount_asks_again_with_the_amount_kept(alice, stripe):
    client = signed_in(alice)
    key = client.get("/billing/").context["top_up_form"].initial["idempotency_key"]
    assert client.post("/billing/top-up/", {"amount_usd": "25", "idempotency_key": key}).status_code == 302
    again = client.post("/billing/top-up/", {"amount_usd": "30", "idempotency_key": key})
    assert again.status_code == 400
    amount_field = field(again, "amount_usd")
    assert 'value="30"' in amount_field and "already started a top-up of another amount" in amount_field
    new_key = again.context["top_up_form"].data["idempotency_key"]
    assert new_key != key
    assert (
        client.post("/billing/top-up/", {"amount_usd": "30", "idempotency_key": new_key}).status_code == 302
    )
    assert sorted(TopUp.objects.values_list("amount_usd", flat=True)) == [Decimal("25.00"), Decimal("30.00")]


def test_a_low_balance_threshold_refused_is_explained_beside_it_and_kept(alice):
    client = signed_in(alice)
    for value, message in [
        ("-5", "The amount must not be negative."),
        ("abc", "The amount must be a decimal number"),
        ("1" * 20, "Ensure this value has at most 16 characters"),
    ]:
        response = client.post("/billing/low-balance-alert/", {"low_balance_threshold_usd": value})
        assert response.status_code == 400
        threshold_field = field(response, "low_balance_threshold_usd")
        assert message in threshold_field and f'value="{value}"' in threshold_field
        assert "low_balance_threshold_usd must" not in response.content.decode()
    assert account_with_plan(alice.memberships.get().organization).low_balance_threshold_usd is None
    saved = client.post("/billing/low-balance-alert/", {"low_balance_threshold_usd": "5"})
    assert saved.status_code == 302
    assert BillingAccount.objects.get().low_balance_threshold_usd == Decimal("5.00")


def test_opening_a_form_address_goes_to_the_billing_page(alice):
    client = signed_in(alice)
    for address in ("/billing/top-up/", "/billing/low-balance-alert/"):
        response = client.get(address + "?payments_cursor=abc")
        assert (response.status_code, response["Location"]) == (302, "/billing/?payments_cursor=abc")


@pytest.mark.parametrize(
    "address,data",
    [
        ("/billing/top-up/", {}),
        ("/billing/top-up/", {"amount_usd": "20"}),
        ("/billing/top-up/", {"amount_usd": "20", "idempotency_key": "k" * 65}),
        ("/billing/top-up/", {"amount_usd": "2\x000", "idempotency_key": "k"}),
        ("/billing/top-up/", {"amount_usd": "1e3", "idempotency_key": "k"}),
        ("/billing/low-balance-alert/", {}),
        ("/billing/low-balance-alert/", {"low_balance_threshold_usd": "NaN"}),
        ("/billing/low-balance-alert/", {"low_balance_threshold_usd": "9" * 16}),
        ("/billing/low-balance-alert/", {"low_balance_threshold_usd": "\x00"}),
    ],
)
def test_no_input_makes_a_billing_form_fail(alice, stripe, address, data):
    response = signed_in(alice).post(address, data)
    assert response.status_code in {302, 400}
    assert not TopUp.objects.exists()
