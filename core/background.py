"""Queuing background work so that a broker outage loses none of it.

``enqueue_after_commit(task, ...)`` queues the task once the transaction has committed (a rolled-back
transaction queues nothing). If Redis, the broker, cannot take the message, the task runs here, in
this process, instead of being dropped: slower for this one request, but the e-mail still goes out.
"""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def _broker_unavailable_errors() -> tuple[type[BaseException], ...]:
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (OperationalError, RedisConnectionError, RedisTimeoutError)


def enqueue(task, *args, **kwargs) -> None:
    """Queues ``task`` now, or runs it in this process if the broker is unreachable."""
    if task.app.conf.task_always_eager:  # runs in-process anyway; its own errors are its own
        task.apply_async(args=args, kwargs=kwargs)
        return
    try:
        task.apply_async(args=args, kwargs=kwargs)
        return
    except _broker_unavailable_errors() as error:
        logger.warning("The task queue is unreachable (%s); running %s in-process.", error, task.name)
    result = task.apply(args=args, kwargs=kwargs, throw=False)
    if result.failed():
        logger.error("%s failed in-process: %r", task.name, result.result)


def enqueue_after_commit(task, *args, **kwargs) -> None:
    # robust: whatever the task does, a committed request is not turned into an error page.
    transaction.on_commit(lambda: enqueue(task, *args, **kwargs), robust=True)
