"""Spend alerts and their webhook deliveries.

Delivery is at-least-once, with the database as the source of truth: a ``WebhookDelivery`` row is
created in the transaction that records the event, ``alerts.tasks.deliver`` tries it as soon as that
transaction commits, and ``alerts.tasks.deliver_due_webhooks`` (every 30 seconds from beat) claims
every delivery that is due, including one whose worker died mid-send once its lease has run out. A
claim is a short transaction (``SELECT ... FOR UPDATE SKIP LOCKED``) that takes a lease
(``locked_until``) and counts the attempt; the request is sent outside any transaction; the result
is recorded under the row lock. Every attempt carries the same ``webhook-id`` (the delivery's id), so
receivers can drop repeats.

The retry schedule (``ALERT_WEBHOOK_RETRY_DELAYS``, seconds after each failed attempt) defaults to
Standard Webhooks' example: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, which is 8 attempts over about
27.6 hours. Each delay is stretched or shrunk by up to 20% at random (so receivers that fail
together are not retried together) and is never shorter than a ``Retry-After`` the receiver sent
(capped at a day). As retries are picked up by the 30-second sweep, a delay can be up to 30 s late.
Only a 2xx counts as delivered. A 410 disables the key's webhook at once; so does the last failed
attempt; either way the organization's owners and admins are e-mailed.
"""

import datetime
import json
import logging
import random
import time
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apikeys import auth_cache
from apikeys.models import ApiKey
from core.email import send_templated_to_users
from core.errors import ServiceError
from core.money import format_usd, format_usd_exact
from orgs.audit import audit_record
from orgs.models import Membership, Role

from . import sender, signing
from .models import DeliveryAttempt, DeliveryStatus, EventType, SpendAlert, WebhookDelivery

logger = logging.getLogger(__name__)

RETRY_JITTER = 0.2
MAX_RETRY_AFTER_SECONDS = 24 * 60 * 60
# A sweep stops claiming new deliveries after this long, so runs do not pile up behind each other.
SWEEP_BUDGET_SECONDS = 25


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _body(event_type: str, *, data: dict, now: datetime.datetime) -> str:
    return json.dumps({"type": event_type, "timestamp": _iso(now), "data": data}, separators=(",", ":"))


def _delivery_create(api_key: ApiKey, *, event_type: str, data: dict, now, alert=None) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        api_key=api_key,
        alert=alert,
        event_type=event_type,
        body=_body(event_type, data=data, now=now),
        url=api_key.alert_webhook_url,
        next_attempt_at=now,
    )
    from .tasks import deliver

    # robust: with the broker down the sweep still finds the row, due now.
    transaction.on_commit(lambda: deliver.delay(delivery.id), robust=True)
    return delivery


# --- Spend alerts ---------------------------------------------------------------------------------


def _reached(thresholds, *, cap: Decimal | None, spend: Decimal) -> list[int]:
    if not cap:
        return []
    return sorted(t for t in thresholds if spend * 100 >= cap * t)


def spend_alerts_due(*, api_key: ApiKey, spend: Decimal) -> bool:
    """Whether the key's month-to-date ``spend`` reaches any of its thresholds (no query): only then
    has ``spend_alerts_record`` anything to look at."""
    return bool(_reached(api_key.alert_thresholds_pct, cap=api_key.monthly_spend_cap_usd, spend=spend))


def spend_alerts_record(
    *, api_key: ApiKey, spend: Decimal, month: datetime.date, now: datetime.datetime
) -> list[SpendAlert]:
    """Records an alert for each threshold the key's month-to-date ``spend`` has reached and that has
    none yet this month, and queues its delivery when the key has a webhook.

    Called by ``billing.services.usage_record`` inside its transaction, after the spend was added:
    that UPDATE holds the key's row lock until the commit, so concurrent recordings for one key pass
    here one at a time, and the unique (key, month, threshold) constraint settles anything else.
    Below every threshold this costs no query.
    """
    if not spend_alerts_due(api_key=api_key, spend=spend):
        return []
    api_key = ApiKey.objects.get(pk=api_key.pk)  # the cap, thresholds and webhook as they are now
    reached = _reached(api_key.alert_thresholds_pct, cap=api_key.monthly_spend_cap_usd, spend=spend)
    already = set(
        SpendAlert.objects.filter(api_key=api_key, month=month, threshold_pct__in=reached).values_list(
            "threshold_pct", flat=True
        )
    )
    recorded = []
    for threshold in reached:
        if threshold in already:
            continue
        try:
            with transaction.atomic():
                alert = SpendAlert.objects.create(
                    api_key=api_key,
                    organization_id=api_key.organization_id,
                    month=month,
                    threshold_pct=threshold,
                    cap_usd=api_key.monthly_spend_cap_usd,
                    spend_usd=spend,
                    created_at=now,
                )
        except IntegrityError:  # recorded meanwhile: one alert per threshold per month
            continue
        recorded.append(alert)
        if api_key.alert_webhook_url and api_key.webhook_secret:
            _delivery_create(
                api_key,
                event_type=EventType.SPEND_THRESHOLD_CROSSED,
                alert=alert,
                now=now,
                data={
                    "key_id": api_key.id,
                    "key_name": api_key.name,
                    "organization_id": api_key.organization_id,
                    "threshold_pct": threshold,
                    "cap_usd": format_usd(alert.cap_usd),
                    "spend_month_to_date_usd": format_usd_exact(spend),
                    "month": f"{month:%Y-%m}",
                },
            )
    return recorded


# --- Sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    delivery: WebhookDelivery
    attempt: DeliveryAttempt
    secrets: list[str]


def _claimable(now: datetime.datetime):
    return (
        WebhookDelivery.objects.select_for_update(skip_locked=True)
        .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
    )


def _claim(deliveries, *, now: datetime.datetime) -> _Claim | WebhookDelivery | None:
    """Leases the first delivery of ``deliveries`` (a ``_claimable`` queryset) for one attempt.

    Returns None when there is none (or another worker holds it), the delivery itself when it was
    cancelled because its key's webhook changed, else the claim.
    """
    with transaction.atomic():
        delivery = deliveries.first()
        if delivery is None:
            return None
        api_key = ApiKey.objects.get(pk=delivery.api_key_id)
        if api_key.alert_webhook_url != delivery.url or not api_key.webhook_secret:
            delivery.status = DeliveryStatus.CANCELLED
            delivery.next_attempt_at = None
            delivery.last_error = _("The key's webhook address changed or was removed.")
            delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
            return delivery
        delivery.attempts += 1
        delivery.schedule_attempts += 1
        delivery.locked_until = now + datetime.timedelta(seconds=settings.ALERT_WEBHOOK_LEASE_SECONDS)
        delivery.save(update_fields=["attempts", "schedule_attempts", "locked_until"])
        attempt = DeliveryAttempt.objects.create(delivery=delivery, number=delivery.attempts, started_at=now)
    return _Claim(delivery, attempt, signing.signing_secrets(api_key, now=now))


def _send(claim: _Claim) -> WebhookDelivery | None:
    delivery = claim.delivery
    timestamp = int(time.time())
    try:
        outcome = sender.post(
            delivery.url,
            body=delivery.body,
            headers=signing.headers(
                claim.secrets, webhook_id=delivery.id, timestamp=timestamp, body=delivery.body
            ),
        )
    except Exception:  # a bug of ours must end as a recorded failure, not as retries forever
        logger.exception("Sending webhook delivery %s failed unexpectedly.", delivery.id)
        outcome = sender.Outcome(error="Internal error while sending.")
    return _record(claim, outcome)


def _record(claim: _Claim, outcome: sender.Outcome) -> WebhookDelivery | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=claim.delivery.pk).first()
        if delivery is None:  # the key was deleted meanwhile
            return None
        DeliveryAttempt.objects.filter(pk=claim.attempt.pk).update(
            finished_at=now,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error[:255],
        )
        if delivery.status != DeliveryStatus.PENDING:
            return delivery
        # A worker whose lease ran out while it waited may still bring news of a success; any other
        # result of it is the current attempt's to report.
        if delivery.attempts != claim.attempt.number and not outcome.succeeded:
            return delivery
        delivery.locked_until = None
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error[:255]
        if outcome.succeeded:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif outcome.status_code == 410:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            _webhook_disable(delivery, reason=_("The receiver answered 410 Gone."))
        else:
            delay = _retry_delay(delivery.schedule_attempts, retry_after=outcome.retry_after)
            if delay is None:
                delivery.status = DeliveryStatus.FAILED
                delivery.next_attempt_at = None
                _webhook_disable(
                    delivery,
                    reason=_("%(count)d attempts failed; the last one: %(why)s")
                    % {"count": delivery.schedule_attempts, "why": _describe(outcome)},
                )
            else:
                delivery.next_attempt_at = now + datetime.timedelta(seconds=delay)
        delivery.save()
    return delivery


def _describe(outcome: sender.Outcome) -> str:
    return f"HTTP {outcome.status_code}" if outcome.status_code is not None else outcome.error


def _retry_delay(attempts_made: int, *, retry_after: float | None) -> float | None:
    """Seconds until the next attempt, or None when the schedule is used up."""
    delays = settings.ALERT_WEBHOOK_RETRY_DELAYS
    if attempts_made > len(delays):
        return None
    delay = delays[attempts_made - 1] * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def _webhook_disable(delivery: WebhookDelivery, *, reason: str) -> None:
    """Clears the key's webhook (if it still is this address), cancels what else was waiting for it,
    records why and tells the organization's owners and admins."""
    cleared = ApiKey.objects.filter(pk=delivery.api_key_id, alert_webhook_url=delivery.url).update(
        alert_webhook_url=""
    )
    if not cleared:
        return
    api_key = ApiKey.objects.select_related("organization").get(pk=delivery.api_key_id)
    auth_cache.forget([api_key.key_hash])
    WebhookDelivery.objects.filter(
        api_key_id=api_key.pk, url=delivery.url, status=DeliveryStatus.PENDING
    ).exclude(pk=delivery.pk).update(
        status=DeliveryStatus.CANCELLED, next_attempt_at=None, last_error=_("The webhook was disabled.")
    )
    audit_record(
        organization=api_key.organization,
        actor=None,
        action="key.webhook_disabled",
        target=api_key,
        metadata={"url": delivery.url, "delivery": delivery.id, "reason": reason},
    )
    recipients = [
        membership.user
        for membership in Membership.objects.filter(
            organization=api_key.organization, role__in=[Role.OWNER, Role.ADMIN], user__is_active=True
        ).select_related("user")
    ]
    send_templated_to_users(
        "alerts/email/webhook_disabled",
        users=recipients,
        context={
            "organization": api_key.organization,
            "key": api_key,
            "url": delivery.url,
            "reason": reason,
            "site_url": settings.SITE_URL,
        },
    )


def delivery_attempt(*, delivery_id: str) -> WebhookDelivery | None:
    """Tries one delivery now if it is due and no other worker holds it; otherwise does nothing."""
    now = timezone.now()
    claim = _claim(_claimable(now).filter(pk=delivery_id), now=now)
    return _send(claim) if isinstance(claim, _Claim) else claim


def deliveries_send_due(*, budget_seconds: float = SWEEP_BUDGET_SECONDS) -> int:
    """Claims and tries due deliveries, oldest due first, until none is left or the budget is spent.
    Several sweeps at once share the work: each skips the rows the others hold."""
    started = time.monotonic()
    tried = 0
    while time.monotonic() - started < budget_seconds:
        now = timezone.now()
        claim = _claim(_claimable(now).order_by("next_attempt_at"), now=now)
        if claim is None:
            break
        if isinstance(claim, _Claim):
            _send(claim)
            tried += 1
    return tried


# --- From the key page ----------------------------------------------------------------------------


def _active_with_webhook(api_key: ApiKey) -> ApiKey:
    api_key = ApiKey.objects.get(pk=api_key.pk)
    if api_key.status != "active":
        raise ServiceError(
            _("This key is %(status)s.") % {"status": api_key.status}, code="key_not_active", status=409
        )
    if not api_key.alert_webhook_url or not api_key.webhook_secret:
        raise ServiceError(_("Set a webhook address first."), code="no_webhook")
    return api_key


@transaction.atomic
def webhook_test_send(*, api_key: ApiKey) -> WebhookDelivery:
    """Queues a ``key.webhook_test`` event to the key's webhook, delivered like any alert."""
    api_key = _active_with_webhook(api_key)
    return _delivery_create(
        api_key,
        event_type=EventType.TEST,
        now=timezone.now(),
        data={"key_id": api_key.id, "key_name": api_key.name, "organization_id": api_key.organization_id},
    )


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Sends the same event (same body, same ``webhook-id``) again now, to the key's current webhook,
    with a fresh retry schedule."""
    api_key = _active_with_webhook(delivery.api_key)
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    now = timezone.now()
    if delivery.status == DeliveryStatus.PENDING and delivery.locked_until and delivery.locked_until > now:
        raise ServiceError(_("This event is being sent right now."), code="delivery_in_progress", status=409)
    delivery.url = api_key.alert_webhook_url
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now
    delivery.locked_until = None
    delivery.schedule_attempts = 0
    delivery.save()
    from .tasks import deliver

    transaction.on_commit(lambda: deliver.delay(delivery.id), robust=True)
    return delivery
