"""The Billing and Usage pages, their forms and CSV exports."""

from decimal import Decimal

from django.test import Client

from billing.models import TopUp
from billing.selectors import account_with_plan
from tests.admin_urls import admin_url
from tests.billing.helpers import credit, use
from tests.orgs.helpers import acme_with


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_billing_page_shows_balance_plan_and_transactions(alice, alice_key):
    credit(alice_key[0].organization, "12.5")
    use(alice_key[0], "nexevo/fast")
    page = signed_in(alice).get("/billing/").content.decode()
    assert 'data-testid="balance">$12.4995<' in page  # exact, as the dashboard shows it
    assert "Pay as you go" in page and ">+$12.50<" in page and ">-$0.0005<" in page
    assert "not configured" in page  # no Stripe in this test


def test_topping_up_goes_to_stripe_and_a_double_submit_opens_one_session(alice, alice_key, stripe):
    client = signed_in(alice)
    page = client.get("/billing/")
    key = page.context["top_up_form"].initial["idempotency_key"]
    first = client.post("/billing/top-up/", {"amount_usd": "25", "idempotency_key": key})
    second = client.post("/billing/top-up/", {"amount_usd": "25", "idempotency_key": key})
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] and first["Location"].startswith(
        "https://checkout.stripe.com/"
    )
    assert TopUp.objects.count() == 1 and len(stripe.requests) == 1
    finished = client.get(f"/billing/top-up/success/?session_id={TopUp.objects.get().session_id}")
    assert "as soon as Stripe confirms" in finished.content.decode()


def test_a_too_small_top_up_is_explained(alice, alice_key, stripe):
    response = signed_in(alice).post(
        "/billing/top-up/", {"amount_usd": "1", "idempotency_key": "x"}, follow=True
    )
    assert "at least 5.00" in response.content.decode()
    assert not TopUp.objects.exists()


def test_developers_see_billing_but_cannot_change_it(alice, bob):
    acme = acme_with(alice, developer=bob)
    client = signed_in(bob)
    client.post("/organizations/switch/", {"organization_id": acme.id})
    page = client.get("/billing/").content.decode()
    assert "Top up" not in page and 'name="plan_id"' not in page
    assert client.post("/billing/plan/", {"plan_id": "pro"}).status_code == 403
    assert account_with_plan(acme).plan_id == "payg"


def test_plan_change_from_the_page(alice, alice_key):
    credit(alice_key[0].organization, "100")
    client = signed_in(alice)
    confirmation = client.get("/billing/plan/", {"plan_id": "pro"})
    response = client.post("/billing/plan/", confirmation.context["form"].initial, follow=True)
    assert "You are on Pro now" in response.content.decode()
    assert account_with_plan(alice_key[0].organization).balance_usd < Decimal("100")


def test_csv_exports(alice, alice_key):
    use(alice_key[0], "nexevo/balanced")
    client = signed_in(alice)
    transactions = b"".join(client.get("/billing/transactions.csv").streaming_content).decode()
    assert transactions.splitlines()[0] == "time_utc,txn_id,kind,amount_usd,reference,description"
    assert ",usage,-0.0025," in transactions
    usage = b"".join(client.get("/billing/usage.csv?days=7").streaming_content).decode()
    assert len(usage.splitlines()) == 1 + 7 * 4 and ",balanced,1,1000,500,0.0025" in usage


def test_staff_credit_an_organization_in_admin_with_a_reason(alice, bob, alice_key):
    from billing.models import BillingAccount, LedgerEntry
    from orgs.models import AuditEvent
    from tests.accounts.helpers import enable_two_factor
    from tests.conftest import PASSWORD

    account = account_with_plan(alice_key[0].organization)
    bob.is_staff = bob.is_superuser = True
    bob.save()
    _device, codes = enable_two_factor(bob)
    staff = Client()
    staff.post("/accounts/login/", {"login": bob.email, "password": PASSWORD})
    staff.post("/accounts/2fa/verify/", {"code": codes[0]})
    url = f"/admin/billing/billingaccount/{account.pk}/adjust/"
    assert "reason" in staff.get(url).content.decode()
    assert staff.post(url, {"amount": "10.00", "reason": ""}).status_code == 200  # a reason is required
    assert staff.post(url, {"amount": "10.00", "reason": "Goodwill credit, ticket 42"}).status_code == 302
    assert BillingAccount.objects.get(pk=account.pk).balance_usd == Decimal("10")
    entry = LedgerEntry.objects.get(kind="adjustment")
    assert (entry.description, entry.created_by) == ("Goodwill credit, ticket 42", bob)
    assert AuditEvent.objects.filter(action="billing.adjusted", actor=bob).exists()
    assert staff.get(admin_url(entry)).status_code == 200
    assert staff.post(admin_url(entry, "delete"), {"post": "yes"}).status_code == 403
