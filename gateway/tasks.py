import datetime

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import journal, ratings, spend_counters
from .models import KeyReservation, RequestLog

# The usage journal's sweep stops after this long; the next one (30 s later) goes on.
SWEEP_SECONDS = 20
# Deleted a slice at a time, so a large backlog never holds one long transaction.
PRUNE_BATCH = 5_000


def request_logs_prune(*, now: datetime.datetime | None = None) -> int:
    """Deletes request-log rows older than ``NEXEVO_REQUEST_LOG_RETENTION_DAYS`` and spend holds
    long past their lifetime. Usage records (what the ledger points to) are never touched. Safe to
    run twice or at once in two workers: each pass deletes by primary key what is still there."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=settings.NEXEVO_REQUEST_LOG_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(
            RequestLog.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:PRUNE_BATCH]
        )
        if not ids:
            break
        deleted += RequestLog.objects.filter(pk__in=ids).delete()[0]
    stale = now - datetime.timedelta(seconds=settings.NEXEVO_RESERVATION_TTL_SECONDS * 2)
    KeyReservation.objects.filter(created_at__lt=stale).delete()
    return deleted


@shared_task(acks_late=True)
def prune_request_logs() -> int:
    return request_logs_prune()


@shared_task(acks_late=True)
def record_usage() -> int:
    """Sweeps the usage journal behind the recorder (gateway.journal): whatever it left, or all of it
    when no recorder runs. Does nothing without the journal."""
    if not journal.enabled():
        return 0
    return journal.drain_all(consumer="sweep", seconds=SWEEP_SECONDS)


@shared_task(acks_late=True)
def give_back_dead_holdings() -> int:
    """Gives back to the spend counters what dead web processes held on them (gateway.spend_counters,
    ``dead_holdings_give_back``): a key is refused below its cap for at most
    ``NEXEVO_HOLDER_TTL_SECONDS`` plus this job's interval after a crash. Nothing without Redis."""
    if not settings.REDIS_URL:
        return 0
    return spend_counters.dead_holdings_give_back()


@shared_task(acks_late=True)
def refresh_model_ratings() -> int:
    """Recomputes every model's ratings (gateway.ratings) for the library and GET /v1/models."""
    return ratings.ratings_refresh()
