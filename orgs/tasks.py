from celery import shared_task

from .services import invitations_expire


@shared_task(acks_late=True)
def expire_invitations() -> int:
    """Marks pending invitations past their expiry as expired."""
    return invitations_expire()
