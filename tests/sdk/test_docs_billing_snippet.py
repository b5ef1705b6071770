"""The product docs' "Bill/Usage/Recharge" snippet, verbatim, through the client, live; Stripe's HTTP
API is the fake on loopback, everything of ours is real."""

from decimal import Decimal

from nexevo import Nexevo

from billing.models import TopUp
from tests.billing.helpers import credit, use
from tests.conftest import make_user, new_key


def test_the_billing_snippet_runs_verbatim(live_server, transactional_db, stripe, capsys):
    user = make_user("finance@example.com")
    api_key, full_key = new_key(user)
    credit(api_key.organization, "12.34")
    use(api_key, "nexevo/fast")
    client = Nexevo(api_key=full_key, base_url=live_server.url)

    # --- from the product docs ---
    bal = client.billing.balance()
    usage = client.billing.usage(days=7)
    plan = client.billing.get_plan()
    hint = client.billing.upgrade_hint()
    if hint["hint"]:
        print(f"建议: {hint['hint']['recommend_plan']}, 可省 {hint['hint']['savings_pct']}%")
    session = client.billing.checkout(
        amount_usd=20,
        idempotency_key="topup-2026-04-27-001",
    )
    print(session["checkout_url"])
    # --- end ---

    assert bal == {"org_id": api_key.organization_id, "balance_usd": "12.34", "currency": "USD"}
    assert Decimal(bal["balance_usd"]) == Decimal("12.34")
    assert len(usage["days"]) == 7 and usage["totals"]["by_tier"]["fast"]["requests"] == 1
    assert plan["plan_id"] == "payg" and hint == {"hint": None}
    assert capsys.readouterr().out.strip() == session["checkout_url"]
    assert session["amount_usd"] == "20.00" and session["session_id"] == TopUp.objects.get().session_id
    again = client.billing.checkout(amount_usd=20, idempotency_key="topup-2026-04-27-001")
    assert again == session and len(stripe.requests) == 1
