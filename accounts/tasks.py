from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import User
from .services import account_erase


@shared_task(acks_late=True)
def erase_deactivated_accounts() -> int:
    """Erases the personal data of accounts deactivated longer ago than the grace period."""
    due_before = timezone.now() - timedelta(days=settings.NEXEVO_ERASURE_GRACE_DAYS)
    due = User.objects.filter(
        is_active=False, deactivated_at__lte=due_before, erased_at__isnull=True
    ).values_list("pk", flat=True)
    # account_erase re-reads each account under a lock and skips one that is no longer due.
    return sum(account_erase(user_id=user_id) for user_id in list(due))
