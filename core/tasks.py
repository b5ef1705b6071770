from celery import shared_task
from django.core.mail import EmailMultiAlternatives


@shared_task(bind=True, max_retries=5, default_retry_delay=60, acks_late=True)
def send_email(self, payload: dict) -> None:
    message = EmailMultiAlternatives(
        payload["subject"], payload["body"], payload["from_email"], payload["to"]
    )
    if payload.get("html"):
        message.attach_alternative(payload["html"], "text/html")
    try:
        message.send()
    except OSError as error:  # SMTP down or refusing: try again later
        raise self.retry(exc=error) from error


@shared_task(acks_late=True)
def prune_idempotency_records() -> int:
    from .idempotency import idempotency_records_prune

    return idempotency_records_prune()
