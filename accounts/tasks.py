from celery import shared_task

from .services import accounts_erase_due


@shared_task(acks_late=True)
def erase_deactivated_accounts() -> int:
    """Erases the personal data of accounts deactivated longer ago than the grace period."""
    return accounts_erase_due()
