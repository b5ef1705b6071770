from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import MicroDollarField, PublicIdField
from core.months import month_spend


class RoutingPolicy(models.TextChoices):
    ANY = "any", _("Any region")
    CN_ONLY = "cn-only", _("China only")
    OVERSEAS_ONLY = "overseas-only", _("Outside China only")


def default_alert_thresholds() -> list[int]:
    return [80, 100]


class ApiKey(models.Model):
    """A Bearer key. It belongs to one organization and acts as the member who created it."""

    id = PublicIdField(prefix="key")
    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(_("SHA-256 of the key"), max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("prefix"), max_length=8, editable=False)
    last_four = models.CharField(_("last four"), max_length=4, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)

    monthly_spend_cap_usd = models.DecimalField(
        _("monthly spend cap (USD)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    # Month-to-date spend, kept by the billing service as usage is recorded. ``spend_month`` is the
    # first day (UTC) of the month the amount belongs to; an older month reads as zero.
    spend_month = models.DateField(_("spend month"), null=True, blank=True, editable=False)
    spend_month_to_date_usd = MicroDollarField(_("month-to-date spend (USD)"), default=0, editable=False)
    alert_thresholds_pct = models.JSONField(
        # xgettext:no-python-format
        _("alert thresholds (% of cap)"),
        default=default_alert_thresholds,
    )
    alert_webhook_url = models.URLField(_("alert webhook"), max_length=2000, blank=True)
    # Signs the alert deliveries (Standard Webhooks). The previous secret keeps signing alongside the
    # new one for a day after a rotation, so receivers can switch over without missing a delivery.
    webhook_secret = models.CharField(max_length=64, blank=True, editable=False)
    previous_webhook_secret = models.CharField(max_length=64, blank=True, editable=False)
    webhook_secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    routing_policy = models.CharField(
        _("routing policy"), max_length=16, choices=RoutingPolicy.choices, default=RoutingPolicy.ANY
    )
    # The chat endpoint's rate limits for this key; empty takes the organization's plan's
    # (billing.Plan.requests_per_minute, tokens_per_minute).
    requests_per_minute = models.PositiveIntegerField(_("requests per minute"), null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(_("tokens per minute"), null=True, blank=True)
    # Who last set the spend cap or the rate limits, and when. Set by an owner or admin, they are
    # locked: only an owner or admin may change them (a developer cannot lift their own cap).
    limits_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    limits_set_at = models.DateTimeField(_("limits set"), null=True, blank=True)
    limits_locked = models.BooleanField(
        _("limits locked"), default=False, help_text=_("Set by an owner or admin: only they may change them.")
    )

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        indexes = [models.Index(fields=["organization", "-created_at"], name="apikey_org_created")]

    def __str__(self):
        return f"{self.name} ({self.display})"

    @property
    def display(self) -> str:
        return f"{self.prefix}…{self.last_four}"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.is_expired():
            return "expired"
        return "active"

    def cap_used_percent(self) -> int | None:
        """How much of the monthly cap is spent, 0 to 100, for the dashboard's bar."""
        if not self.monthly_spend_cap_usd:
            return None
        return min(100, int(self.month_to_date_spend() * 100 / self.monthly_spend_cap_usd))

    def cap_left(self, now=None) -> Decimal | None:
        """What this month's cap has left to spend (never below zero); None without a cap."""
        if self.monthly_spend_cap_usd is None:
            return None
        return max(self.monthly_spend_cap_usd - self.month_to_date_spend(now), Decimal(0))

    def month_to_date_spend(self, now=None) -> Decimal:
        """This calendar month's (UTC) spend; zero when the counter still holds an older month."""
        return month_spend(
            month=self.spend_month, amount=self.spend_month_to_date_usd, now=now or timezone.now()
        )
