"""Against PostgreSQL, Redis and real Celery worker processes (CI's second pass): a crossing is
delivered, signed, by a worker; retries keep their webhook-id; a worker killed with SIGKILL in the
middle of a delivery is replaced and the alert still arrives exactly once."""

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from alerts.models import DeliveryStatus, WebhookDelivery
from tests.alerts.conftest import key_with_webhook, needs_postgres_and_redis
from tests.alerts.receiver import HANG
from tests.billing.helpers import use
from tests.conftest import make_user

pytestmark = [needs_postgres_and_redis(), pytest.mark.timeout(180)]

EIGHTY_CENTS = {"prompt": 1_000_000, "completion": 1_000_000}


def settled(delivery_id: str, timeout: float = 60) -> WebhookDelivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery = WebhookDelivery.objects.get(pk=delivery_id)
        if delivery.status != DeliveryStatus.PENDING:
            return delivery
        time.sleep(0.2)
    raise AssertionError(f"{delivery_id} still pending after {timeout} s")


def test_a_key_crossing_80_percent_gets_one_signed_delivery_from_the_worker(worker_factory, receiver):
    worker_factory()
    hook = receiver()
    api_key = key_with_webhook(make_user("ops@example.com"), hook.url())

    use(api_key, **EIGHTY_CENTS)  # commits, then queues the delivery to Redis

    delivery = settled(WebhookDelivery.objects.get().id)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    (request,) = hook.requests
    payload = Webhook(api_key.webhook_secret).verify(request.body, request.headers)
    assert payload["type"] == "key.spend_threshold_crossed"
    assert payload["data"]["threshold_pct"] == 80 and payload["data"]["spend_month_to_date_usd"] == "0.80"
    assert request.headers["webhook-id"] == delivery.id


def test_500_twice_then_200_is_three_attempts_with_one_webhook_id(worker_factory, beat, receiver):
    worker_factory()
    hook = receiver(answers=[500, 500, 200])
    api_key = key_with_webhook(make_user("ops@example.com"), hook.url())

    use(api_key, **EIGHTY_CENTS)

    delivery = settled(WebhookDelivery.objects.get().id)
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 3
    assert [r.answered for r in hook.requests] == [500, 500, 200]
    assert {r.headers["webhook-id"] for r in hook.requests} == {delivery.id}
    for request in hook.requests:
        Webhook(api_key.webhook_secret).verify(request.body, request.headers)
    assert list(delivery.attempt_log.values_list("status_code", flat=True)) == [500, 500, 200]


def test_a_worker_killed_mid_delivery_is_replaced_and_the_alert_arrives_once(worker_factory, beat, receiver):
    first_worker = worker_factory()
    hook = receiver(answers=[HANG])  # holds the first request open
    api_key = key_with_webhook(make_user("ops@example.com"), hook.url())

    use(api_key, **EIGHTY_CENTS)
    assert hook.arrived.acquire(timeout=30), "the first attempt never arrived"
    first_worker.kill()
    hook.released.set()
    worker_factory()  # a new worker; the sweep finds the delivery once the dead one's lease ends

    delivery = settled(WebhookDelivery.objects.get().id)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    time.sleep(1)  # anything more that was going to arrive, would have
    assert [r.answered for r in hook.requests] == [None, 200]
    assert {r.headers["webhook-id"] for r in hook.requests} == {delivery.id}
    assert len({json.loads(r.body)["timestamp"] for r in hook.requests}) == 1
    attempts = list(delivery.attempt_log.values_list("number", "status_code", "finished_at"))
    assert [(number, code) for number, code, _ in attempts] == [(1, None), (2, 200)]
    assert attempts[0][2] is None  # the killed attempt never finished
