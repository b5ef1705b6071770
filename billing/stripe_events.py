"""Applying Stripe's webhook events to the ledger, once each, in whatever order they come.

* ``checkout.session.completed`` (when paid) and ``checkout.session.async_payment_succeeded``
  credit the top-up with Stripe's ``amount_total``, only if it is in USD and equals the amount the
  top-up asked for; the session id is the ledger reference, so it counts once.
* ``refund.created``, ``refund.updated`` and ``refund.failed`` (and, for older API versions, the
  refunds listed on ``charge.refunded``) debit a succeeded refund, matched to its top-up by the
  payment intent; a refund that fails after succeeding is credited back. Refunds of one top-up
  never add up to more than it credited.

An event that is signed but unusable (a missing field, another currency, a charge that is not a
top-up) is recorded and answered 200 "ignored", so Stripe does not retry it for days; it is logged.
"""

import logging
import re
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from core.money import format_usd
from orgs.audit import audit_record

from . import stripe_gateway
from .models import EntryKind, StripeEvent, TopUp, TopUpRefund, TopUpStatus
from .services import ledger_post

logger = logging.getLogger(__name__)
_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")
_REFUND_ID = re.compile(r"^(re|pyr)_[A-Za-z0-9_]{1,250}$")
_PAYMENT_INTENT = re.compile(r"^pi_[A-Za-z0-9_]{1,250}$")
MAX_CENTS = 10**12


class Unusable(ValueError):
    pass


def event_apply(event: dict) -> str:
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        return "ignored: no id or type"
    with transaction.atomic():
        try:
            with transaction.atomic():
                StripeEvent.objects.create(id=event_id[:255], type=event_type[:128])
        except IntegrityError:
            return "duplicate"
        handler = _HANDLERS.get(event_type)
        if handler is None:
            return "ignored"
        data = event.get("data")
        subject = data.get("object") if isinstance(data, dict) else None
        try:
            if not isinstance(subject, dict):
                raise Unusable("no data.object")
            return handler(subject)
        except Unusable as problem:
            logger.warning("Stripe event %s (%s) ignored: %s", event_id, event_type, problem)
            return f"ignored: {problem}"


def _cents(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CENTS:
        raise Unusable(f"{what} is not a whole number of cents")
    return value


def _usd(subject: dict) -> None:
    if subject.get("currency") != "usd":
        raise Unusable(f"currency {subject.get('currency')!r} is not usd")


def _credit_checkout(session: dict, *, require_paid: bool) -> str:
    session_id = session.get("id")
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise Unusable("no checkout session id")
    if require_paid and session.get("payment_status") != "paid":
        return "not paid yet"
    top_up = TopUp.objects.select_related("organization", "created_by").filter(session_id=session_id).first()
    if top_up is None:
        raise Unusable("not one of our top-ups")
    _usd(session)
    cents = _cents(session.get("amount_total"), "amount_total")
    amount = Decimal(cents) / 100  # Stripe's own figure; never an amount from metadata
    if amount != top_up.amount_usd:
        raise Unusable(f"amount_total {amount} differs from the top-up's {top_up.amount_usd}")
    payment_intent = session.get("payment_intent")
    updates = {"status": TopUpStatus.PAID}
    if isinstance(payment_intent, str) and _PAYMENT_INTENT.match(payment_intent):
        updates["payment_intent"] = payment_intent
    TopUp.objects.filter(pk=top_up.pk).update(**updates)
    entry = ledger_post(
        organization=top_up.organization,
        kind=EntryKind.TOP_UP,
        amount=amount,
        reference=session_id,
        description=_("Top-up"),
        created_by=top_up.created_by,
    )
    if entry:
        audit_record(
            organization=top_up.organization,
            actor=None,
            action="billing.top_up_paid",
            target=top_up.organization,
            metadata={"amount": format_usd(amount), "session_id": session_id},
        )
    return "credited" if entry else "already credited"


def _apply_refund(refund: dict) -> str:
    refund_id, status = refund.get("id"), refund.get("status")
    if not isinstance(refund_id, str) or not _REFUND_ID.match(refund_id):
        raise Unusable("no refund id")
    top_up = _top_up_of_payment_intent(refund.get("payment_intent"))
    if top_up is None:
        raise Unusable("not a refund of one of our top-ups")
    _usd(refund)
    amount = Decimal(_cents(refund.get("amount"), "amount")) / 100
    organization = top_up.organization
    known = TopUpRefund.objects.select_for_update().filter(refund_id=refund_id).first()
    if status == "succeeded":
        if known is not None:
            return "refund already recorded"
        refunded = TopUp.objects.filter(pk=top_up.pk).aggregate(
            total=Sum("refunds__amount_usd", filter=Q(refunds__reversed=False))
        )["total"] or Decimal(0)
        if refunded + amount > top_up.amount_usd:
            raise Unusable(f"refunds would exceed the top-up's {top_up.amount_usd}")
        TopUpRefund.objects.create(refund_id=refund_id, top_up=top_up, amount_usd=amount)
        ledger_post(
            organization=organization,
            kind=EntryKind.REFUND,
            amount=-amount,
            reference=refund_id,
            description=_("Refund of a top-up"),
        )
        audit_record(
            organization=organization,
            actor=None,
            action="billing.refunded",
            target=organization,
            metadata={"amount": format_usd(amount), "refund_id": refund_id},
        )
        return "refund recorded"
    if status in ("failed", "canceled"):
        if known is None or known.reversed:
            return "nothing to reverse"
        TopUpRefund.objects.filter(pk=known.pk).update(reversed=True)
        ledger_post(
            organization=organization,
            kind=EntryKind.ADJUSTMENT,
            amount=known.amount_usd,
            reference=f"{refund_id}:reversed",
            description=_("A refund that failed, credited back"),
        )
        return "refund reversed"
    return f"refund {status}: nothing to do yet"


def _top_up_of_payment_intent(payment_intent) -> TopUp | None:
    """The top-up paid by this payment intent. A refund can arrive before the session's completion
    (which is when we learn the intent), so an unknown intent is looked up at Stripe: its metadata
    names the top-up we made it for."""
    if not isinstance(payment_intent, str) or not _PAYMENT_INTENT.match(payment_intent):
        return None
    top_up = TopUp.objects.select_related("organization").filter(payment_intent=payment_intent).first()
    if top_up is not None:
        return top_up
    top_up_id = stripe_gateway.payment_intent_top_up_id(payment_intent)
    if not top_up_id or not (str(top_up_id).isascii() and str(top_up_id).isdigit()):
        return None
    top_up = TopUp.objects.select_related("organization").filter(pk=int(top_up_id), payment_intent="").first()
    if top_up is not None:
        TopUp.objects.filter(pk=top_up.pk).update(payment_intent=payment_intent)
    return top_up


def _charge_refunded(charge: dict) -> str:
    """Older API versions list the refunds on the charge; newer ones send refund.* events instead."""
    refunds = (charge.get("refunds") or {}).get("data") if isinstance(charge.get("refunds"), dict) else None
    if not refunds:
        return "ignored: refunds come as refund.* events"
    results = [
        _apply_refund(
            {
                **refund,
                "payment_intent": refund.get("payment_intent") or charge.get("payment_intent"),
                "currency": refund.get("currency") or charge.get("currency"),
            }
        )
        for refund in refunds
        if isinstance(refund, dict)
    ]
    return "; ".join(results) or "ignored"


_HANDLERS = {
    "checkout.session.completed": lambda session: _credit_checkout(session, require_paid=True),
    "checkout.session.async_payment_succeeded": lambda session: _credit_checkout(session, require_paid=False),
    "refund.created": _apply_refund,
    "refund.updated": _apply_refund,
    "refund.failed": _apply_refund,
    "charge.refunded": _charge_refunded,
}
