from celery import shared_task

from .rollup import usage_rollup
from .services import plans_renew


@shared_task(acks_late=True)
def roll_up_usage() -> int:
    return usage_rollup()


@shared_task(acks_late=True)
def renew_plans() -> int:
    return plans_renew()
