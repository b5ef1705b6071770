"""Spend alerts and their webhook deliveries.

A ``SpendAlert`` records that a key's month-to-date spend reached one of its thresholds; the unique
constraint on (key, month, threshold) is what makes it one alert however many requests cross the line
at once. A ``WebhookDelivery`` is the source of truth for sending one event to a key's webhook: its
id is the ``webhook-id`` header (the same on every attempt), and its status, attempt count, next
attempt time and lease (``locked_until``) let any worker pick it up again after a crash.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.fields import MicroDollarField, PublicIdField


class EventType(models.TextChoices):
    SPEND_THRESHOLD_CROSSED = "key.spend_threshold_crossed", _("Spend threshold crossed")
    TEST = "key.webhook_test", _("Test event")


class SpendAlert(models.Model):
    id = PublicIdField(prefix="alert")
    api_key = models.ForeignKey("apikeys.ApiKey", on_delete=models.CASCADE, related_name="spend_alerts")
    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    month = models.DateField(_("month"), help_text=_("The first day (UTC) of the month."))
    # xgettext:no-python-format
    threshold_pct = models.PositiveSmallIntegerField(_("threshold (% of cap)"))
    cap_usd = models.DecimalField(_("cap (USD)"), max_digits=14, decimal_places=2)
    spend_usd = MicroDollarField(_("month-to-date spend when crossed (USD)"))
    created_at = models.DateTimeField(_("crossed at"))

    class Meta:
        verbose_name = _("spend alert")
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "month", "threshold_pct"], name="one_spend_alert_per_threshold_month"
            )
        ]

    def __str__(self):
        return f"{self.threshold_pct}% of {self.cap_usd} ({self.month:%Y-%m})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SUCCEEDED = "succeeded", _("delivered")
    FAILED = "failed", _("failed")
    # The key's webhook changed or was removed before the event could be sent.
    CANCELLED = "cancelled", _("cancelled")


class WebhookDelivery(models.Model):
    id = PublicIdField(prefix="whd")
    api_key = models.ForeignKey("apikeys.ApiKey", on_delete=models.CASCADE, related_name="alert_deliveries")
    alert = models.ForeignKey(
        SpendAlert, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    event_type = models.CharField(_("event"), max_length=64, choices=EventType.choices)
    # The exact JSON body: every attempt signs and sends the same bytes.
    body = models.TextField(editable=False)
    url = models.URLField(_("address"), max_length=2000)
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Attempts since the retry schedule last (re)started: a redelivery starts it afresh.
    schedule_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # A worker that claimed an attempt holds it until then; after that, another worker may take over.
    locked_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["api_key", "-created_at"], name="delivery_key_created"),
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_pending_due"
            ),
        ]

    def __str__(self):
        return f"{self.event_type} → {self.url} ({self.status})"

    @property
    def latest_attempt(self):
        """The last attempt, from the prefetched ``attempt_log`` when the selector loaded it."""
        attempts = list(self.attempt_log.all())
        return attempts[-1] if attempts else None


class DeliveryAttempt(models.Model):
    """One try. Written when the attempt is claimed, so a worker that died mid-send leaves a trace."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(_("status"), null=True, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="one_row_per_delivery_attempt")
        ]

    def __str__(self):
        return f"#{self.number} {self.status_code or self.error or '…'}"
