"""Thin tasks over ``alerts.services``. Both are safe to run twice or at once: a delivery is sent
only by the worker that claimed it, and a claim is skipped while another worker's lease runs."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def deliver(delivery_id: str) -> str | None:
    """Tries the delivery now (queued when its event commits). Retries come from the sweep below."""
    delivery = services.delivery_attempt(delivery_id=delivery_id)
    return delivery.status if delivery else None


@shared_task(acks_late=True)
def deliver_due_webhooks() -> int:
    """Every 30 seconds from beat: retries that are due, and deliveries whose worker died mid-send."""
    return services.deliveries_send_due()
