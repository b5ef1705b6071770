"""Top-ups through Stripe: checkout sessions (Stripe's HTTP API faked on loopback) and signed webhooks."""

import time
from decimal import Decimal

import pytest

from billing.models import LedgerEntry, StripeEvent, TopUp
from billing.selectors import account_with_plan
from tests.fakes.stripe_server import event, sign
from tests.orgs.helpers import acme_with

WEBHOOK = "/v1/billing/stripe/webhook"


def checkout(client, amount="20", key="topup-2026-04-27-001"):
    return client.post("/v1/billing/checkout", {"amount_usd": amount, "idempotency_key": key}, format="json")


def deliver(api, payload: bytes, *, secret="whsec_test_nexevo", timestamp=None, signature=None):
    header = signature if signature is not None else sign(payload, secret, timestamp=timestamp)
    return api.post(WEBHOOK, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def completed(session_id, amount_cents, *, event_id="evt_1", paid=True, currency="usd"):
    number = session_id.rsplit("_", 1)[-1]
    return event(
        "checkout.session.completed",
        {
            "id": session_id,
            "object": "checkout.session",
            "amount_total": amount_cents,
            "currency": currency,
            "payment_intent": f"pi_test_{number}",
            "payment_status": "paid" if paid else "unpaid",
            "metadata": {"amount_usd": "999999"},
        },
        event_id=event_id,
    )


def refunded(top_up, refund_id, amount_cents, *, event_id, status="succeeded", event_type="refund.created"):
    """A refund event as Stripe sends them since the 2024-10-28 API version."""
    number = top_up.session_id.rsplit("_", 1)[-1]
    return event(
        event_type,
        {
            "id": refund_id,
            "object": "refund",
            "amount": amount_cents,
            "currency": "usd",
            "status": status,
            "payment_intent": f"pi_test_{number}",
        },
        event_id=event_id,
    )


def balance(organization) -> Decimal:
    return account_with_plan(organization).balance_usd


def test_checkout_creates_one_session_per_idempotency_key(api_as, alice_key, stripe):
    client = api_as(alice_key[1])
    first = checkout(client)
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["amount_usd"] == "20.00" and body["session_id"].startswith("cs_test_")
    assert body["checkout_url"].startswith("https://checkout.stripe.com/")
    sent = stripe.requests[0]
    assert (
        sent["form"]["mode"] == "payment" and sent["form"]["line_items[0][price_data][unit_amount]"] == "2000"
    )
    # Our key, digested to fit Stripe's 255 characters, the same on every retry.
    assert sent["headers"]["Idempotency-Key"].startswith("nexevo-top-up-")
    assert len(sent["headers"]["Idempotency-Key"]) <= 255
    again = checkout(client)
    assert again.json() == body
    assert len(stripe.requests) == 1
    conflict = checkout(client, amount="25")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("amount", ["0", "-5", "1.234", "abc", "4.99", "10000.01", None, True])
def test_checkout_refuses_bad_amounts(api_as, alice_key, stripe, amount):
    response = checkout(api_as(alice_key[1]), amount=amount)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "amount_usd"
    assert not TopUp.objects.exists() and stripe.requests == []


def test_checkout_needs_an_idempotency_key(api_as, alice_key, stripe):
    response = api_as(alice_key[1]).post("/v1/billing/checkout", {"amount_usd": "20"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["param"] == "idempotency_key"


def test_checkout_without_stripe_configured_says_so(api_as, alice_key, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = checkout(api_as(alice_key[1]))
    assert response.status_code == 503 and response.json()["error"]["code"] == "stripe_not_configured"


def test_developers_cannot_top_up(api_as, alice, bob, stripe):
    from apikeys.services import key_create

    acme = acme_with(alice, developer=bob)
    _key, full_key = key_create(organization=acme, created_by=bob, name="bob's")
    assert checkout(api_as(full_key)).status_code == 403


def test_a_paid_session_is_credited_once_however_often_it_arrives(api, api_as, alice_key, stripe):
    session = checkout(api_as(alice_key[1])).json()["session_id"]
    organization = alice_key[0].organization
    for attempt in range(10):
        response = deliver(api, completed(session, 2000, event_id=f"evt_{attempt % 3}"))
        assert response.status_code == 200
    assert balance(organization) == Decimal("20")
    assert LedgerEntry.objects.filter(kind="top_up").count() == 1
    assert StripeEvent.objects.count() == 3
    assert TopUp.objects.get().status == "paid"


def test_the_amount_comes_from_stripe_never_from_metadata(api, api_as, alice_key, stripe):
    session = checkout(api_as(alice_key[1])).json()["session_id"]
    deliver(api, completed(session, 2000))
    assert balance(alice_key[0].organization) == Decimal("20")  # not the 999999 in metadata


def test_an_unpaid_completion_waits_for_async_payment(api, api_as, alice_key, stripe):
    session = checkout(api_as(alice_key[1])).json()["session_id"]
    organization = alice_key[0].organization
    deliver(api, completed(session, 2000, paid=False, event_id="evt_a"))
    assert balance(organization) == 0
    deliver(
        api,
        event(
            "checkout.session.async_payment_succeeded",
            {"id": session, "amount_total": 2000, "currency": "usd", "payment_status": "paid"},
            event_id="evt_b",
        ),
    )
    assert balance(organization) == Decimal("20")


@pytest.mark.parametrize(
    "order",
    [("paid", "refund", "paid-again"), ("refund", "paid", "paid-again"), ("paid", "paid-again", "refund")],
)
def test_any_order_of_delivery_ends_at_the_same_balance(api, api_as, alice_key, stripe, order):
    session = checkout(api_as(alice_key[1])).json()["session_id"]
    top_up = TopUp.objects.get()
    payloads = {
        "paid": completed(session, 2000, event_id="evt_paid"),
        "paid-again": completed(session, 2000, event_id="evt_paid_duplicate"),
        "refund": refunded(top_up, "re_1", 500, event_id="evt_refund"),
    }
    for name in order:
        assert deliver(api, payloads[name]).status_code == 200
    assert balance(alice_key[0].organization) == Decimal("15")
    assert sorted(LedgerEntry.objects.values_list("kind", "amount_usd")) == [
        ("refund", Decimal("-5")),
        ("top_up", Decimal("20")),
    ]


@pytest.mark.parametrize("case", ["tampered", "wrong secret", "too old", "missing", "garbage"])
def test_unsigned_or_badly_signed_events_change_nothing(api, api_as, alice_key, stripe, case):
    session = checkout(api_as(alice_key[1])).json()["session_id"]
    payload = completed(session, 2000)
    if case == "tampered":
        response = deliver(api, payload, signature=sign(payload, "whsec_test_nexevo").replace("v1=", "v1=0"))
    elif case == "wrong secret":
        response = deliver(api, payload, secret="whsec_someone_else")
    elif case == "too old":
        response = deliver(api, payload, timestamp=int(time.time()) - 301)
    elif case == "missing":
        response = api.post(WEBHOOK, payload, content_type="application/json")
    else:
        response = deliver(api, b"not json", signature="t=1,v1=abc")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert balance(alice_key[0].organization) == 0 and not StripeEvent.objects.exists()


def test_a_body_changed_after_signing_is_refused(api, api_as, alice_key, stripe):
    session = checkout(api_as(alice_key[1])).json()["session_id"]
    header = sign(completed(session, 2000), "whsec_test_nexevo")
    response = deliver(api, completed(session, 900000), signature=header)
    assert response.status_code == 400
    assert balance(alice_key[0].organization) == 0


def test_a_refund_that_fails_after_succeeding_is_credited_back(api, api_as, alice_key, stripe):
    session = checkout(api_as(alice_key[1])).json()["session_id"]
    top_up = TopUp.objects.get()
    deliver(api, completed(session, 2000))
    deliver(api, refunded(top_up, "re_9", 2000, event_id="evt_r1"))
    assert balance(alice_key[0].organization) == 0
    deliver(
        api, refunded(top_up, "re_9", 2000, event_id="evt_r2", status="failed", event_type="refund.failed")
    )
    assert balance(alice_key[0].organization) == Decimal("20")


@pytest.mark.parametrize(
    "case", ["other currency", "other amount", "foreign refund", "over-refund", "garbage"]
)
def test_signed_but_unusable_events_are_ignored_with_a_200_and_change_nothing(
    api, api_as, alice_key, stripe, case
):
    session = checkout(api_as(alice_key[1])).json()["session_id"]
    top_up = TopUp.objects.get()
    if case in ("foreign refund", "over-refund"):
        deliver(api, completed(session, 2000, event_id="evt_ok"))
    payload = {
        "other currency": completed(session, 2000, currency="jpy"),
        "other amount": completed(session, 300000),
        "foreign refund": event(
            "refund.created",
            {
                "id": "re_x",
                "amount": 500,
                "currency": "usd",
                "status": "succeeded",
                "payment_intent": "pi_someone_else",
            },
            event_id="evt_x",
        ),
        "over-refund": refunded(top_up, "re_big", 2500, event_id="evt_big"),
        "garbage": event("checkout.session.completed", {"amount_total": None}, event_id="evt_g"),
    }[case]
    before = balance(alice_key[0].organization)
    response = deliver(api, payload)
    assert response.status_code == 200 and response.json()["result"].startswith("ignored")
    assert balance(alice_key[0].organization) == before
