"""Billing services: the ledger, recording usage, plans, top-ups, adjustments."""

import calendar
import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apikeys.models import ApiKey
from core.email import send_templated_to_users
from core.errors import ServiceError
from core.ids import new_id
from core.money import CENTS, MoneyError, format_usd, format_usd_exact, parse_usd, quantize
from core.months import month_start, spend_add
from core.text import check_text
from orgs.audit import audit_record
from orgs.models import Membership, Organization, Role
from orgs.permissions import Action, require

from . import pricing, stripe_gateway
from .models import BillingAccount, EntryKind, LedgerEntry, Plan, TopUp, UsageRecord

TOP_UP_MINIMUM = Decimal("5.00")
TOP_UP_MAXIMUM = Decimal("10000.00")


class InsufficientBalance(ServiceError):
    status = 402

    def __init__(self, message: str):
        super().__init__(message, code="insufficient_balance")


# --- Accounts and the ledger ----------------------------------------------------------------------


def account_for(organization) -> BillingAccount:
    """The organization's billing account, created on the default plan when first needed."""
    account = BillingAccount.objects.filter(organization=organization).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return BillingAccount.objects.create(
                organization=organization, plan=Plan.objects.get(is_default=True)
            )
    except IntegrityError:  # created meanwhile by another request
        return BillingAccount.objects.get(organization=organization)


def _locked_account(organization) -> BillingAccount:
    """The account, locked. The lock is taken on the account row alone, with no join: PostgreSQL
    re-checks a join after waiting for a lock, and a plan changed meanwhile would drop the row. The
    plan is read after the lock is held."""
    account = BillingAccount.objects.select_for_update().filter(organization=organization).first()
    if account is None:
        account_for(organization)
        account = BillingAccount.objects.select_for_update().get(organization=organization)
    account.organization = organization
    account.plan = Plan.objects.get(pk=account.plan_id)
    return account


def ledger_post(
    *, organization, kind: str, amount: Decimal, reference: str, description: str = "", created_by=None
) -> LedgerEntry | None:
    """Appends an entry and moves the cached balance with it, in one transaction.

    Returns None, changing nothing, if an entry of this kind with this reference exists: that is
    how a repeated event counts once.
    """
    with transaction.atomic():
        return _post(
            _locked_account(organization),
            kind=kind,
            amount=amount,
            reference=reference,
            description=description,
            created_by=created_by,
        )


def _post(
    account: BillingAccount,
    *,
    kind: str,
    amount: Decimal,
    reference: str,
    description: str = "",
    created_by=None,
) -> LedgerEntry | None:
    """The one place an entry is written and the cached balance moved, on an account already locked."""
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                organization=account.organization,
                kind=kind,
                amount_usd=amount,
                reference=reference,
                description=description[:255],
                created_by=created_by,
            )
    except IntegrityError:
        return None
    before = account.balance_usd
    account.balance_usd = before + amount
    account.save(update_fields=["balance_usd"])
    _watch_low_balance(account, before)
    return entry


def low_balance_crossed(*, balance: Decimal, threshold: Decimal | None, alerted: bool) -> bool:
    """Whether the balance crossed the low-balance line, either way, since the last e-mail: under it
    and not told yet, or back at or over it and not re-armed yet."""
    return threshold is not None and (balance < threshold) != alerted


def _watch_low_balance(account: BillingAccount, before: Decimal) -> None:
    """E-mails owners and admins once when the balance falls under their threshold; re-arms on the
    way back up."""
    threshold = account.low_balance_threshold_usd
    if not low_balance_crossed(
        balance=account.balance_usd, threshold=threshold, alerted=account.low_balance_alerted
    ):
        return
    account.low_balance_alerted = not account.low_balance_alerted
    account.save(update_fields=["low_balance_alerted"])
    if account.low_balance_alerted:
        _send_to_managers(
            account.organization,
            "billing/email/low_balance",
            {"balance": format_usd_exact(account.balance_usd), "threshold": format_usd(threshold)},
        )


def low_balance_check(*, organization_id: str) -> None:
    """The low-balance watch, on the balance as it is now: for a debit written without ``_post``
    (billing.charges writes a charge in one statement)."""
    with transaction.atomic():
        account = (
            BillingAccount.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(organization_id=organization_id)
        )
        _watch_low_balance(account, account.balance_usd)


def low_balance_threshold_set(*, membership: Membership, amount, ip=None) -> BillingAccount:
    require(membership, Action.MANAGE_BILLING)
    threshold = (
        None
        if amount in (None, "")
        else _parse_amount(amount, param="low_balance_threshold_usd", allow_zero=True)
    )
    with transaction.atomic():
        account = _locked_account(membership.organization)
        account.low_balance_threshold_usd = threshold
        account.low_balance_alerted = False
        account.save(update_fields=["low_balance_threshold_usd", "low_balance_alerted"])
        _watch_low_balance(account, account.balance_usd)  # already under the new line: say so now
        audit_record(
            organization=membership.organization,
            actor=membership.user,
            action="billing.low_balance_alert_set",
            target=membership.organization,
            ip=ip,
            metadata={"threshold": format_usd(threshold) if threshold is not None else None},
        )
    return account


def _parse_amount(value, *, param: str, minimum=None, maximum=None, allow_zero=False) -> Decimal:
    try:
        return parse_usd(value, places=CENTS, minimum=minimum, maximum=maximum, allow_zero=allow_zero)
    except MoneyError as error:
        raise ServiceError(error.message, code=error.code, param=param) from None


# --- Usage ----------------------------------------------------------------------------------------


def usage_record(
    *,
    api_key: ApiKey,
    requested_model: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    byok: bool = False,
    generation_id: str | None = None,
    now: datetime.datetime | None = None,
) -> UsageRecord:
    """Prices one generation under the organization's plan and records it: the usage record, the
    ledger debit and the key's month-to-date spend, exactly and in one transaction. ``now``: when it
    was served (a late one counts to its own month's spend, see core.months).

    The reference for billing.charges, which writes the same on PostgreSQL in one statement.
    Raises ``pricing.UnknownModel`` for a real model id that has no list price.
    """
    organization = api_key.organization
    now = now or timezone.now()
    tier = pricing.tier_for(requested_model, byok=byok)
    with transaction.atomic():
        account = _locked_account(organization)
        cost = pricing.cost(
            plan=account.plan,
            tier=tier,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
        record = UsageRecord.objects.create(
            id=generation_id or new_id("gen"),
            organization=organization,
            api_key=api_key,
            user_id=api_key.created_by_id,
            requested_model=requested_model,
            model=model,
            tier=tier,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            created_at=now,
            day=now.astimezone(datetime.UTC).date(),
        )
        if (
            _post(
                account,
                kind=EntryKind.USAGE,
                amount=-cost,
                reference=record.id,
                description=f"{model} ({tier})",
            )
            is None
        ):
            raise IntegrityError(f"{record.id} is in the ledger already")
        month, spend = key_spend_add(api_key=api_key, amount=cost, now=now)
        from alerts.services import spend_alerts_record

        spend_alerts_record(api_key=api_key, spend=spend, month=month, now=now)
    return record


def key_spend_add(
    *, api_key: ApiKey, amount: Decimal, now: datetime.datetime
) -> tuple[datetime.date, Decimal]:
    """Adds a cost served at ``now`` to the key's month-to-date spend (core.months.spend_add) and
    returns the key's month and its spend (the later month's, untouched, for a late cost). The
    key's row stays locked until the transaction ends."""
    key = ApiKey.objects.select_for_update().only("spend_month", "spend_month_to_date_usd").get(pk=api_key.pk)
    month, spend = spend_add(
        month=key.spend_month, amount=key.spend_month_to_date_usd, cost=amount, cost_month=month_start(now)
    )
    ApiKey.objects.filter(pk=api_key.pk).update(spend_month=month, spend_month_to_date_usd=spend)
    return month, spend


# --- Plans ---------------------------------------------------------------------------------------
#
# Changing plan, the rule (plan_change_quote computes it; the confirmation page shows it and
# plan_change charges exactly it):
#
# * the new plan's fee is charged for the rest of the month, today included:
#   fee × days left (today included) ÷ days in the month;
# * what was paid for the current plan this month (plan_paid_usd: the renewal on the 1st, or the
#   prorated fee of the change that started it) is credited for its unused days, today counted as
#   used: paid × days after today ÷ days that payment covered (from plan_paid_from to the month's
#   end), never more than was paid. Nothing was paid (pay as you go, a lapsed plan, a month not
#   renewed yet): nothing is credited;
# * both are rounded once to the cent, half to even; the credit is its own ledger entry (kind
#   plan_credit), posted before the fee, both with the change's reference;
# * the change needs balance + credit to cover the fee, unless the credit is at least the fee (a
#   change that adds money is never refused, even to a balance below zero).
#
# Today is charged by the plan changed to and not credited by the plan changed from, so holding a
# plan for part of a day costs that day's share of its fee: switching up and back the same minute
# gives back everything but today's share.


@dataclass(frozen=True)
class PlanChangeQuote:
    """What changing from ``current_plan`` to ``plan`` on ``day`` does to the balance."""

    current_plan: Plan
    plan: Plan
    day: datetime.date
    days_in_month: int
    charge: Decimal  # the new plan's fee for days_charged days, today included
    days_charged: int
    paid: Decimal  # what was paid for current_plan this month, covering days_paid days
    days_paid: int
    credit: Decimal  # paid's share for days_credited days, the days after today
    days_credited: int
    balance: Decimal  # the balance the quote was made on

    @property
    def debit(self) -> Decimal:
        """The charge as the ledger records it, a negative amount."""
        return -self.charge

    @property
    def balance_after(self) -> Decimal:
        return self.balance + self.credit - self.charge

    @property
    def covered(self) -> bool:
        """The balance can take the change: nothing is charged beyond what is credited back (a
        change that adds money is never refused, even to a balance below zero), or the balance
        stays at or above zero after it."""
        return self.charge <= self.credit or self.balance_after >= 0

    @property
    def shortfall(self) -> Decimal:
        """What the balance lacks for the change (0 when it is covered)."""
        return Decimal(0) if self.covered else -self.balance_after


def plan_change_quote(
    *, account: BillingAccount, plan: Plan, now: datetime.datetime | None = None
) -> PlanChangeQuote:
    """The one computation of what a change of plan charges and credits (the rule above). Reads
    nothing: ``account`` comes with its plan loaded (locked, when the change is made)."""
    today = (now or timezone.now()).astimezone(datetime.UTC).date()
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    days_charged = days_in_month - today.day + 1
    paid, days_paid, days_credited = Decimal(0), 0, 0
    if account.plan_paid_month == month_start(today) and account.plan_paid_usd > 0:
        paid = account.plan_paid_usd
        paid_from = max(account.plan_paid_from or month_start(today), month_start(today))
        days_paid = days_in_month - paid_from.day + 1
        days_credited = max(0, min(days_in_month - today.day, days_paid))
    return PlanChangeQuote(
        current_plan=account.plan,
        plan=plan,
        day=today,
        days_in_month=days_in_month,
        charge=quantize(plan.monthly_fee_usd * days_charged / days_in_month, CENTS),
        days_charged=days_charged,
        paid=paid,
        days_paid=days_paid,
        credit=min(paid, quantize(paid * days_credited / days_paid, CENTS)) if days_paid else Decimal(0),
        days_credited=days_credited,
        balance=account.balance_usd,
    )


def plan_change_target(*, account: BillingAccount, plan_id) -> Plan:
    """The plan ``plan_id`` names, if the account can change to it."""
    plan = Plan.objects.filter(id=plan_id).first() if isinstance(plan_id, str) and plan_id else None
    if plan is None:
        raise ServiceError(_("No such plan."), code="invalid_plan", param="plan_id")
    if account.plan_id == plan.id:
        raise ServiceError(_("This is your plan already."), code="plan_unchanged", param="plan_id")
    return plan


class QuoteChanged(ServiceError):
    """What a change of plan costs is no longer what the person confirming it was shown."""

    status = 409

    def __init__(self, quote: PlanChangeQuote):
        super().__init__(
            _(
                "The amounts changed since they were shown: changing to %(plan)s now charges "
                "$%(charge)s and credits $%(credit)s. Nothing was charged."
            )
            % {
                "plan": quote.plan.name,
                "charge": format_usd(quote.charge),
                "credit": format_usd(quote.credit),
            },
            code="quote_changed",
        )
        self.quote = quote


def plan_change(
    *,
    membership: Membership,
    plan_id: str,
    expected_charge: Decimal | None = None,
    expected_credit: Decimal | None = None,
    expected_from: str | None = None,
    ip=None,
) -> BillingAccount:
    """Moves the organization to another plan: credits the unused days of the current plan's fee
    and charges the new plan's fee for the rest of the month, as ``plan_change_quote`` computes them.

    ``expected_charge``, ``expected_credit`` and ``expected_from`` (the plan changed from) are what a
    confirmation page showed: when the quote made under the account's lock differs (the day changed,
    the fee was edited, another change came first), nothing happens and ``QuoteChanged`` says the
    new figures.
    """
    require(membership, Action.MANAGE_BILLING)
    now = timezone.now()
    with transaction.atomic():
        account = _locked_account(membership.organization)
        plan = plan_change_target(account=account, plan_id=plan_id)
        quote = plan_change_quote(account=account, plan=plan, now=now)
        if (
            (expected_charge is not None and expected_charge != quote.charge)
            or (expected_credit is not None and expected_credit != quote.credit)
            or (expected_from is not None and expected_from != account.plan_id)
        ):
            raise QuoteChanged(quote)
        if not quote.covered:
            raise InsufficientBalance(_insufficient_message(quote))
        old_plan = account.plan
        reference = f"plan-change:{new_id('chg')}"
        if quote.credit:
            _post(
                account,
                kind=EntryKind.PLAN_CREDIT,
                amount=quote.credit,
                reference=reference,
                description=f"{old_plan.name}: {quote.days_credited} unused days of {quote.day:%B %Y}",
                created_by=membership.user,
            )
        if quote.charge:
            _post(
                account,
                kind=EntryKind.PLAN_FEE,
                amount=-quote.charge,
                reference=reference,
                description=f"{plan.name} for the rest of {quote.day:%B %Y} ({quote.days_charged} days)",
                created_by=membership.user,
            )
        account.plan = plan
        account.plan_paid_month = month_start(quote.day)
        account.plan_paid_usd = quote.charge
        account.plan_paid_from = quote.day
        account.save(update_fields=["plan", "plan_paid_month", "plan_paid_usd", "plan_paid_from"])
        audit_record(
            organization=membership.organization,
            actor=membership.user,
            action="billing.plan_changed",
            target=membership.organization,
            ip=ip,
            metadata={
                "from": old_plan.id,
                "to": plan.id,
                "charged": format_usd(quote.charge),
                "credited": format_usd(quote.credit),
            },
        )
    return account


def _insufficient_message(quote: PlanChangeQuote) -> str:
    values = {
        "plan": quote.plan.name,
        "fee": format_usd(quote.charge),
        "credit": format_usd(quote.credit),
        "balance": format_usd(quote.balance),
    }
    if quote.credit:
        return (
            _(
                "Changing to %(plan)s costs $%(fee)s for the rest of this month, less a credit of "
                "$%(credit)s for the unused days of your current plan; the balance is $%(balance)s. "
                "Top up first."
            )
            % values
        )
    return (
        _(
            "Changing to %(plan)s costs $%(fee)s for the rest of this month; the balance is "
            "$%(balance)s. Top up first."
        )
        % values
    )


def plans_renew(*, now: datetime.datetime | None = None) -> int:
    """Charges this month's fee to every account on a paid plan that has not paid it yet.

    An account whose balance does not cover the fee moves to the default plan, and its owners and
    admins are told. Safe to run twice or concurrently: the ledger takes one fee per month.
    """
    now = now or timezone.now()
    month = month_start(now)
    due = BillingAccount.objects.filter(plan__monthly_fee_usd__gt=0).exclude(plan_paid_month=month)
    renewed = 0
    for account_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            account = BillingAccount.objects.select_for_update().get(pk=account_id)
            account.plan = Plan.objects.get(pk=account.plan_id)
            account.organization = Organization.objects.get(pk=account.organization_id)
            if account.plan_paid_month == month or not account.plan.monthly_fee_usd:
                continue
            fee = account.plan.monthly_fee_usd
            if account.balance_usd >= fee:
                ledger_post(
                    organization=account.organization,
                    kind=EntryKind.PLAN_FEE,
                    amount=-fee,
                    reference=f"plan:{account.organization_id}:{month:%Y-%m}",
                    description=f"{account.plan.name}, {month:%B %Y}",
                )
                BillingAccount.objects.filter(pk=account.pk).update(
                    plan_paid_month=month, plan_paid_usd=fee, plan_paid_from=month
                )
                renewed += 1
            else:
                default = Plan.objects.get(is_default=True)
                audit_record(
                    organization=account.organization,
                    actor=None,
                    action="billing.plan_lapsed",
                    target=account.organization,
                    metadata={"from": account.plan_id, "to": default.id, "fee": format_usd(fee)},
                )
                BillingAccount.objects.filter(pk=account.pk).update(
                    plan=default, plan_paid_month=month, plan_paid_usd=0, plan_paid_from=month
                )
                _send_to_managers(
                    account.organization,
                    "billing/email/plan_lapsed",
                    {"plan": account.plan, "default": default, "fee": format_usd(fee)},
                )
    return renewed


def _send_to_managers(organization, template: str, context: dict) -> None:
    recipients = [
        membership.user
        for membership in Membership.objects.filter(
            organization=organization, role__in=[Role.OWNER, Role.ADMIN], user__is_active=True
        ).select_related("user")
    ]
    send_templated_to_users(
        template,
        users=recipients,
        context={"organization": organization, "site_url": settings.SITE_URL, **context},
    )


# --- Top-ups and adjustments ----------------------------------------------------------------------


def checkout_create(*, membership: Membership, amount_usd, idempotency_key, ip=None) -> TopUp:
    """A Stripe Checkout Session for ``amount_usd``; the same idempotency key and amount answer
    with the same session, the same key with another amount is a 409."""
    require(membership, Action.MANAGE_BILLING)
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key.strip()) <= 255:
        raise ServiceError(
            _("idempotency_key is required (1 to 255 characters)."),
            code="invalid_idempotency_key",
            param="idempotency_key",
        )
    check_text(idempotency_key, param="idempotency_key")
    amount = _parse_amount(amount_usd, param="amount_usd", minimum=TOP_UP_MINIMUM, maximum=TOP_UP_MAXIMUM)
    if not stripe_gateway.configured():
        raise ServiceError(
            _("Top-ups are not available: Stripe is not configured on this console."),
            code="stripe_not_configured",
            status=503,
        )
    try:
        with transaction.atomic():
            top_up, created = TopUp.objects.get_or_create(
                organization=membership.organization,
                idempotency_key=idempotency_key,
                defaults={"amount_usd": amount, "created_by": membership.user},
            )
    except IntegrityError:
        top_up, created = (
            TopUp.objects.get(organization=membership.organization, idempotency_key=idempotency_key),
            False,
        )
    if top_up.amount_usd != amount:
        raise ServiceError(
            _("This idempotency_key was used for a top-up of %(amount)s. Use a new key for another amount.")
            % {"amount": format_usd(top_up.amount_usd)},
            code="idempotency_key_reused",
            param="idempotency_key",
            status=409,
        )
    if not top_up.session_id:
        # Stripe answers a repeated idempotency key with the session it made the first time, so a
        # retry after a lost answer does not open a second session.
        session = stripe_gateway.checkout_session_create(top_up)
        TopUp.objects.filter(pk=top_up.pk).update(session_id=session["id"], checkout_url=session["url"])
        top_up.refresh_from_db()
    if created:
        audit_record(
            organization=membership.organization,
            actor=membership.user,
            action="billing.top_up_started",
            target=membership.organization,
            ip=ip,
            metadata={"amount": format_usd(amount), "session_id": top_up.session_id},
        )
    return top_up


def stripe_event_handle(*, payload: bytes, signature: str | None) -> str:
    """Verifies a Stripe webhook and applies it once (billing.stripe_events); returns what was done."""
    from .stripe_events import event_apply

    return event_apply(stripe_gateway.verified_event(payload, signature))


def adjustment_create(*, organization, amount, reason: str, staff_user, ip=None) -> LedgerEntry:
    """A staff correction, positive or negative, with the reason, in the ledger and the audit trail."""
    if not reason or not reason.strip():
        raise ServiceError(_("Give a reason."), code="reason_required", param="reason")
    try:
        value = parse_usd(amount, places=CENTS, allow_negative=True)
    except MoneyError as error:
        raise ServiceError(error.message, code=error.code, param="amount") from None
    with transaction.atomic():
        entry = ledger_post(
            organization=organization,
            kind=EntryKind.ADJUSTMENT,
            amount=value,
            reference=new_id("adj"),
            description=reason.strip(),
            created_by=staff_user,
        )
        audit_record(
            organization=organization,
            actor=staff_user,
            action="billing.adjusted",
            target=organization,
            ip=ip,
            metadata={"amount": format_usd(value), "reason": reason.strip()},
        )
    return entry
