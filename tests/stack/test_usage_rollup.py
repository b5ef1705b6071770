"""The usage roll-up as the scheduler runs it: twice, in two threads at once, and in two Celery
worker processes at once, the daily totals end up equal to the sums of the raw records.

Written against the public task (``billing.tasks.roll_up_usage``), ``billing.rollup.usage_rollup``
and the models, not the roll-up's internals."""

import re
import threading
import time

import pytest
from celery import Celery
from django.db import connection, connections
from django.db.models import Count, Sum

from billing.models import DailyUsage, UsageRecord
from billing.rollup import usage_rollup
from billing.tasks import roll_up_usage
from tests.billing.helpers import credit, use
from tests.conftest import make_user, new_key

from .processes import wait_until

GROUP = ("organization_id", "api_key_id", "day", "tier", "model")
MODELS = ["nexevo/fast", "nexevo/balanced", "openai/gpt-4o-mini"]


def raw_totals() -> dict:
    rows = (
        UsageRecord.objects.values(*GROUP)
        .annotate(
            requests=Count("pk"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            cost=Sum("cost_usd"),
        )
        .order_by()
    )
    return {tuple(row[field] for field in GROUP): row for row in rows}


def rolled_totals() -> dict:
    rows = DailyUsage.objects.values(*GROUP).annotate(
        requests=Sum("requests"),
        prompt=Sum("prompt_tokens"),
        completion=Sum("completion_tokens"),
        cost=Sum("cost_usd"),
    )
    return {tuple(row[field] for field in GROUP): row for row in rows.order_by()}


def totals(rows: dict) -> dict:
    return {
        group: (row["requests"], row["prompt"], row["completion"], row["cost"]) for group, row in rows.items()
    }


@pytest.fixture
def keys(transactional_db):
    """Two people's keys with some credit, so that usage can be recorded against them."""
    result = []
    for email in ("alice@example.com", "bob@example.com"):
        api_key, _full_key = new_key(make_user(email))
        credit(api_key.organization, "1000.00")
        result.append(api_key)
    return result


def record_usage(keys, count: int, *, offset: int = 0) -> None:
    for index in range(offset, offset + count):
        use(keys[index % len(keys)], MODELS[index % len(MODELS)], prompt=100 + index, completion=7 * index)


def test_running_it_twice_leaves_the_totals_equal_to_the_raw_sums(keys):
    record_usage(keys, 30)

    roll_up_usage.apply(throw=True)
    first = totals(rolled_totals())
    roll_up_usage.apply(throw=True)

    assert totals(rolled_totals()) == first == totals(raw_totals())
    record_usage(keys, 12, offset=30)
    roll_up_usage.apply(throw=True)
    roll_up_usage.apply(throw=True)
    assert totals(rolled_totals()) == totals(raw_totals())
    assert sum(row["requests"] for row in rolled_totals().values()) == 42


def _needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time")


def test_two_rollups_at_once_while_usage_is_recorded_count_everything_once(keys):
    _needs_postgresql()
    record_usage(keys, 40)
    start = threading.Barrier(3)
    errors = []

    def in_thread(work):
        def run():
            try:
                start.wait(timeout=10)
                work()
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                connections.close_all()

        return threading.Thread(target=run)

    def roll_up_repeatedly():
        for _ in range(5):
            usage_rollup(batch_size=7)

    threads = [
        in_thread(roll_up_repeatedly),
        in_thread(roll_up_repeatedly),
        in_thread(lambda: record_usage(keys, 30, offset=40)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []

    usage_rollup()  # what was recorded after the last run started
    assert totals(rolled_totals()) == totals(raw_totals())
    assert sum(row["requests"] for row in rolled_totals().values()) == 70


def test_two_worker_processes_rolling_up_at_once_count_everything_once(stack, keys):
    import redis

    record_usage(keys, 40)
    stack.start_worker("worker-a")
    stack.start_worker("worker-b")
    scheduler = Celery(broker=stack.redis.url(), set_as_current=False)
    broker = redis.Redis.from_url(stack.redis.url())

    for _ in range(6):
        scheduler.send_task("billing.tasks.roll_up_usage")
    record_usage(keys, 20, offset=40)
    for _ in range(4):
        scheduler.send_task("billing.tasks.roll_up_usage")

    def drained():
        return broker.llen("celery") == 0 and broker.hlen("unacked") == 0

    wait_until(lambda: drained() and (time.sleep(1) or drained()), timeout=120, message="the queue")
    worker_logs = "".join(process.output() for process in stack.processes)
    assert len(re.findall(r"roll_up_usage\[[-0-9a-f]+\] succeeded", worker_logs)) == 10, worker_logs
    assert totals(rolled_totals()) == totals(raw_totals())
    assert sum(row["requests"] for row in rolled_totals().values()) == 60
