from django.db.models import Prefetch, QuerySet

from core.errors import NotFound

from .models import DeliveryAttempt, SpendAlert, WebhookDelivery

DELIVERIES_SHOWN = 20


def deliveries_of_key(*, api_key) -> QuerySet[WebhookDelivery]:
    """The key's latest deliveries, newest first, with their attempts (two queries however many)."""
    return (
        WebhookDelivery.objects.filter(api_key_id=api_key.pk)
        .prefetch_related(Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number")))
        .order_by("-created_at", "-id")[:DELIVERIES_SHOWN]
    )


def delivery_get_of_key(*, api_key, delivery_id: str) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.filter(api_key_id=api_key.pk, pk=delivery_id).first()
    if delivery is None:
        raise NotFound(code="delivery_not_found")
    delivery.api_key = api_key
    return delivery


def spend_alerts_of_key(*, api_key, limit: int = 12) -> QuerySet[SpendAlert]:
    """The key's latest spend alerts, whether or not a webhook was there to send them."""
    return SpendAlert.objects.filter(api_key_id=api_key.pk).order_by("-month", "-threshold_pct")[:limit]
