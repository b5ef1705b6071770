"""Billing data: prices as data, an append-only ledger with a cached balance, usage and its daily roll-up,
Stripe top-ups. Money is ``Decimal`` in Python (core.money); amounts that are summed are stored as
integer micro-dollars (core.fields.MicroDollarField), prices and fees as decimals."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.fields import MicroDollarField, PublicIdField
from core.models import AppendOnlyQuerySet

RATE = {"max_digits": 12, "decimal_places": 6}
PERCENT = {"max_digits": 6, "decimal_places": 2}


class Tier(models.TextChoices):
    FAST = "fast", _("Fast")
    BALANCED = "balanced", _("Balanced")
    PASSTHROUGH = "passthrough", _("Passthrough")
    BYOK = "byok", _("Bring your own key")


class Plan(models.Model):
    """A price list: a monthly fee, flat per-token rates for the two tiers, and the markups."""

    id = models.SlugField(primary_key=True, max_length=32)
    name = models.CharField(_("name"), max_length=64)
    monthly_fee_usd = models.DecimalField(_("monthly fee (USD)"), max_digits=12, decimal_places=2)
    fast_input_per_million_usd = models.DecimalField(_("fast input per 1M tokens"), **RATE)
    fast_output_per_million_usd = models.DecimalField(_("fast output per 1M tokens"), **RATE)
    balanced_input_per_million_usd = models.DecimalField(_("balanced input per 1M tokens"), **RATE)
    balanced_output_per_million_usd = models.DecimalField(_("balanced output per 1M tokens"), **RATE)
    passthrough_markup_pct = models.DecimalField(_("passthrough markup (%)"), **PERCENT)
    # xgettext:no-python-format
    byok_fee_pct = models.DecimalField(_("BYOK fee (% of list price)"), **PERCENT)
    # The chat endpoint's rate limits of a key that sets none of its own (apikeys.ApiKey).
    requests_per_minute = models.PositiveIntegerField(_("requests per minute per key"), default=600)
    tokens_per_minute = models.PositiveIntegerField(_("tokens per minute per key"), default=1_000_000)
    is_default = models.BooleanField(_("default plan"), default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_plan"
            )
        ]

    def __str__(self):
        return self.name


class ModelPrice(models.Model):
    """The provider's list price of a real model id, what passthrough and BYOK are priced from."""

    model = models.CharField(_("model id"), max_length=128, unique=True, help_text="openai/gpt-4o-mini")
    provider = models.CharField(_("provider"), max_length=64)
    region = models.CharField(_("region"), max_length=16, choices=[("cn", "cn"), ("overseas", "overseas")])
    input_per_million_usd = models.DecimalField(_("input per 1M tokens"), **RATE)
    output_per_million_usd = models.DecimalField(_("output per 1M tokens"), **RATE)

    class Meta:
        ordering = ["model"]

    def __str__(self):
        return self.model


class BillingAccount(models.Model):
    """An organization's plan and cached balance. The balance always equals the sum of its ledger
    (``manage.py verifyledger`` proves it); both change in one transaction."""

    organization = models.OneToOneField("orgs.Organization", on_delete=models.PROTECT, related_name="billing")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="accounts")
    balance_usd = MicroDollarField(_("balance (USD)"), default=0)
    # The month (its first day, UTC) whose plan fee has been charged.
    plan_paid_month = models.DateField(null=True, blank=True)
    # What was paid for the current plan in plan_paid_month, and the first day that payment covers
    # (the 1st for the monthly renewal, the day of the change for a plan change's prorated fee): a
    # later change of plan that month credits its unused days (services.plan_change_quote).
    plan_paid_usd = models.DecimalField(
        _("plan fee paid this month (USD)"), max_digits=12, decimal_places=2, default=Decimal(0)
    )
    plan_paid_from = models.DateField(_("plan fee paid from"), null=True, blank=True)
    low_balance_threshold_usd = models.DecimalField(
        _("low-balance alert under (USD)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    low_balance_alerted = models.BooleanField(
        default=False, help_text=_("Alert sent for the current crossing.")
    )

    def __str__(self):
        return f"{self.organization} ({self.plan_id})"


class EntryKind(models.TextChoices):
    TOP_UP = "top_up", _("Top-up")
    USAGE = "usage", _("Usage")
    PLAN_FEE = "plan_fee", _("Plan fee")
    # The unused days of a plan fee paid this month, given back when the plan changes. Its own kind:
    # a refund is money Stripe returned to a card (it names a Stripe refund), an adjustment is a
    # staff correction with a reason; this is neither.
    PLAN_CREDIT = "plan_credit", _("Plan credit")
    REFUND = "refund", _("Refund")
    ADJUSTMENT = "adjustment", _("Adjustment")


class LedgerEntry(models.Model):
    """One signed movement of an organization's money. Written once, never changed or deleted.

    ``reference`` names what caused it (a ``gen_`` id, a Stripe session or refund id, a plan month);
    it is unique per kind, which is what makes a retried or repeated event count once.
    """

    id = PublicIdField(prefix="txn")
    # Indexed by ledger_org_time, which starts with it: a second index of its own would only cost writes.
    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="ledger", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=16, choices=EntryKind.choices)
    amount_usd = MicroDollarField(_("amount (USD)"))
    reference = models.CharField(_("reference"), max_length=128)
    description = models.CharField(_("description"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [models.UniqueConstraint(fields=["kind", "reference"], name="one_entry_per_reference")]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="ledger_org_time"),
            # The payments of an organization, newest first, without walking past its usage debits
            # (thousands for each payment). Partial, so recording usage never writes to it.
            models.Index(
                fields=["organization", "-created_at", "-id"],
                condition=~Q(kind="usage"),
                name="ledger_payments_org_time",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount_usd}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only.")


class UsageRecord(models.Model):
    """One generation, priced: what the metered endpoint served, to whom, and what it cost.

    A billing record: written once, never updated or deleted (bulk updates and deletes refuse). The
    roll-up depends on it: a record is added to DailyUsage once, by its ``seq``, and a later change
    would never reach the sums.
    """

    id = PublicIdField(prefix="gen")
    # Indexed by usage_org_time, which starts with it.
    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="usage", db_index=False
    )
    api_key = models.ForeignKey("apikeys.ApiKey", on_delete=models.PROTECT, related_name="usage")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_model = models.CharField(max_length=128)
    model = models.CharField(max_length=128, help_text="The model that served the request.")
    tier = models.CharField(max_length=16, choices=Tier.choices)
    prompt_tokens = models.PositiveIntegerField()
    completion_tokens = models.PositiveIntegerField()
    cost_usd = MicroDollarField()
    created_at = models.DateTimeField(db_index=True)
    day = models.DateField(help_text="created_at's date in UTC, what the roll-up groups by")
    # The record's place in insertion order, what the roll-up's watermark counts in (billing.rollup).
    # A trigger sets it on every insert, whatever Django sends (NULL): a sequence on PostgreSQL, the
    # rowid on SQLite; it is not read back onto the instance. Migration 0004 creates the triggers; on
    # SQLite a migration that rebuilds this table drops them and must create them again (a test
    # checks that new records get a number).
    seq = models.BigIntegerField(null=True, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["seq"], name="usage_seq"),
            models.Index(fields=["organization", "-created_at"], name="usage_org_time"),
        ]

    def __str__(self):
        return self.id


class DailyUsage(models.Model):
    """Usage summed per organization, key, day (UTC), tier and model by the roll-up task."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.PROTECT, related_name="+")
    api_key = models.ForeignKey("apikeys.ApiKey", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    tier = models.CharField(max_length=16, choices=Tier.choices)
    model = models.CharField(max_length=128)
    requests = models.PositiveBigIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = MicroDollarField(default=0)

    class Meta:
        verbose_name_plural = "daily usage"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "api_key", "day", "tier", "model"], name="one_row_per_day"
            )
        ]
        indexes = [models.Index(fields=["organization", "day"], name="daily_usage_org_day")]

    def __str__(self):
        return f"{self.day} {self.tier} {self.model}"


class RollupState(models.Model):
    """Where the usage roll-up stands: every usage record with ``seq <= watermark`` is in DailyUsage
    and none above it. One row; the roll-up locks it for each batch, so roll-ups take turns."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    watermark = models.BigIntegerField(default=0)
    rolled_up_at = models.DateTimeField(null=True, blank=True, help_text="When the watermark last moved.")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="one_rollup_state")]

    def __str__(self):
        return f"rolled up to {self.watermark}"


class TopUpStatus(models.TextChoices):
    OPEN = "open", _("Waiting for payment")
    PAID = "paid", _("Paid")


class TopUp(models.Model):
    """A Stripe Checkout Session for adding money, one per (organization, idempotency key)."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.PROTECT, related_name="top_ups")
    idempotency_key = models.CharField(max_length=255)
    amount_usd = models.DecimalField(max_digits=12, decimal_places=2)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    session_id = models.CharField(max_length=255, blank=True, db_index=True)
    # Learnt from the completed session; refunds name it, which is how they find their top-up.
    payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    status = models.CharField(max_length=16, choices=TopUpStatus.choices, default=TopUpStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "idempotency_key"], name="one_top_up_per_key")
        ]

    def __str__(self):
        return f"{self.amount_usd} for {self.organization}"


class TopUpRefund(models.Model):
    """A Stripe refund of a top-up, recorded once; ``reversed`` when it failed after succeeding."""

    refund_id = models.CharField(primary_key=True, max_length=255)
    top_up = models.ForeignKey(TopUp, on_delete=models.PROTECT, related_name="refunds")
    amount_usd = models.DecimalField(max_digits=12, decimal_places=2)
    reversed = models.BooleanField(default=False)
    recorded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.refund_id


class StripeEvent(models.Model):
    """Every Stripe event id handled, so a redelivered event does nothing the second time."""

    id = models.CharField(primary_key=True, max_length=255)
    type = models.CharField(max_length=128)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.type} {self.id}"
