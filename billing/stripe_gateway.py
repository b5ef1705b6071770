"""Everything that talks to Stripe, in one place. ``STRIPE_API_BASE`` points it at a local
Stripe-compatible server (the tests run one on loopback)."""

import hashlib
import json
from decimal import Decimal

import stripe
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import ServiceError

SIGNATURE_TOLERANCE_SECONDS = 300


def configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def _client() -> stripe.StripeClient:
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2)


def checkout_session_create(top_up) -> dict:
    """A Checkout Session in payment mode for the top-up, created under our idempotency key."""
    site = settings.SITE_URL.rstrip("/")
    metadata = {"organization_id": top_up.organization_id, "top_up_id": str(top_up.pk)}
    params = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": int(top_up.amount_usd * 100),
                    "product_data": {"name": "Nexevo balance top-up"},
                },
            }
        ],
        "client_reference_id": top_up.organization_id,
        "metadata": metadata,
        # Charges inherit these, so a refund can be traced back to the top-up.
        "payment_intent_data": {"metadata": metadata},
        "success_url": f"{site}/billing/top-up/success/?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{site}/billing/top-up/cancelled/",
    }
    try:
        session = _client().v1.checkout.sessions.create(
            params=params,
            # Stripe takes keys up to 255 characters; ours can be as long, so send a digest of it.
            options={
                "idempotency_key": "nexevo-top-up-"
                + hashlib.sha256(f"{top_up.organization_id}:{top_up.idempotency_key}".encode()).hexdigest()
            },
        )
    except stripe.StripeError as error:
        raise ServiceError(
            _("Stripe did not accept the top-up: %(why)s") % {"why": error.user_message or error},
            code="stripe_error",
            status=502,
        ) from None
    return {"id": session.id, "url": session.url}


def verified_event(payload: bytes, signature: str | None) -> dict:
    """The event, once its signature is Stripe's and at most five minutes old; otherwise a 400."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise ServiceError(_("Stripe webhooks are not configured."), code="stripe_not_configured", status=503)
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, settings.STRIPE_WEBHOOK_SECRET, SIGNATURE_TOLERANCE_SECONDS
        )
        event = json.loads(payload, parse_float=Decimal)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        raise ServiceError(
            _("The Stripe signature is missing, wrong or too old."), code="invalid_signature"
        ) from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict) or "id" not in event:
        raise ServiceError(_("That is not a Stripe event."), code="invalid_event")
    return event


def payment_intent_top_up_id(payment_intent: str) -> str | None:
    """The top-up a payment intent was made for, from the metadata we set on it; None for one that
    is not ours (or when Stripe cannot be asked)."""
    try:
        intent = _client().v1.payment_intents.retrieve(payment_intent)
    except stripe.StripeError:
        return None
    metadata = intent.to_dict().get("metadata") or {}
    return metadata.get("top_up_id")
