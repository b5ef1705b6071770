"""Sending a delivery: Standard Webhooks signatures, only 2xx counts, retries with the same webhook-id,
410 and the last failure disable the webhook, redirects are not followed, one deadline, a capped read,
and the connection pinned to the address that was checked."""

import json
import time

import pytest
from django.core import mail
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from alerts import services
from alerts.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery
from apikeys.models import ApiKey
from apikeys.services import key_rotate_webhook_secret
from orgs.models import AuditEvent
from tests.alerts.conftest import key_with_webhook
from tests.alerts.receiver import HANG, TRICKLE
from tests.billing.helpers import use

EIGHTY_CENTS = {"prompt": 1_000_000, "completion": 1_000_000}


def crossing(api_key) -> WebhookDelivery:
    use(api_key, **EIGHTY_CENTS)
    return WebhookDelivery.objects.get(api_key=api_key)


def attempt(delivery) -> WebhookDelivery:
    return services.delivery_attempt(delivery_id=delivery.id)


def test_it_delivers_a_signed_alert_that_standardwebhooks_verifies(alice, receiver):
    hook = receiver()
    api_key = key_with_webhook(alice, hook.url())
    delivery = attempt(crossing(api_key))

    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.delivered_at is not None
    (request,) = hook.requests
    assert request.path == "/hooks/nexevo" and request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == delivery.id
    payload = Webhook(api_key.webhook_secret).verify(request.body, request.headers)
    assert payload["type"] == "key.spend_threshold_crossed" and payload["data"]["threshold_pct"] == 80
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(request.body, request.headers)
    log = DeliveryAttempt.objects.get(delivery=delivery)
    assert (log.number, log.status_code, log.error) == (1, 200, "") and log.latency_ms is not None


def test_during_a_rotation_both_secrets_sign(alice, receiver):
    hook = receiver()
    api_key = key_with_webhook(alice, hook.url())
    old_secret = api_key.webhook_secret
    api_key = key_rotate_webhook_secret(api_key=api_key, actor=alice)
    attempt(crossing(api_key))

    (request,) = hook.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(request.body, request.headers)
    Webhook(api_key.webhook_secret).verify(request.body, request.headers)


def test_it_retries_500s_with_the_same_webhook_id_until_a_200(alice, receiver):
    hook = receiver(answers=[500, 500, 200])
    delivery = crossing(key_with_webhook(alice, hook.url()))
    assert attempt(delivery).status == DeliveryStatus.PENDING
    assert attempt(delivery).status == DeliveryStatus.PENDING
    assert attempt(delivery).status == DeliveryStatus.SUCCEEDED

    assert [request.headers["webhook-id"] for request in hook.requests] == [delivery.id] * 3
    assert len({request.body for request in hook.requests}) == 1
    assert list(DeliveryAttempt.objects.values_list("status_code", flat=True)) == [500, 500, 200]


def test_it_waits_as_long_as_retry_after_asks(alice, receiver, settings):
    settings.ALERT_WEBHOOK_RETRY_DELAYS = [5]
    hook = receiver(answers=[(503, {"Retry-After": "120"})])
    delivery = attempt(crossing(key_with_webhook(alice, hook.url())))
    assert delivery.status == DeliveryStatus.PENDING
    wait = (delivery.next_attempt_at - DeliveryAttempt.objects.get().finished_at).total_seconds()
    assert 119 < wait < 121
    assert attempt(delivery) is None  # not due yet: nothing is sent
    assert len(hook.requests) == 1


def test_the_schedule_is_stretched_by_jitter(alice, receiver, settings):
    settings.ALERT_WEBHOOK_RETRY_DELAYS = [100]
    hook = receiver(answers=[500] * 12)
    waits = set()
    for index in range(6):
        delivery = services.webhook_test_send(api_key=key_with_webhook(alice, hook.url(), name=f"k{index}"))
        delivery = attempt(delivery)
        waits.add(round((delivery.next_attempt_at - delivery.attempt_log.get().finished_at).total_seconds()))
    assert all(80 <= wait <= 120 for wait in waits) and len(waits) > 1


def test_the_last_failure_disables_the_webhook_and_tells_owners_and_admins(
    alice, receiver, django_capture_on_commit_callbacks
):
    hook = receiver(answers=[500, 502, 503])
    api_key = key_with_webhook(alice, hook.url())
    delivery = crossing(api_key)
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [attempt(delivery).status for _ in range(3)]

    assert statuses == ["pending", "pending", "failed"]
    api_key.refresh_from_db()
    assert api_key.alert_webhook_url == "" and api_key.webhook_secret  # the secret stays for later
    event = AuditEvent.objects.get(action="key.webhook_disabled")
    assert event.metadata["url"] == hook.url() and event.actor is None
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]
    assert "turned off" in message.subject and hook.url() in message.body and "3 attempts" in message.body


def test_a_410_disables_the_webhook_at_once(alice, receiver, django_capture_on_commit_callbacks):
    hook = receiver(answers=[410])
    api_key = key_with_webhook(alice, hook.url())
    delivery = crossing(api_key)
    use(api_key, prompt=1_000_000, completion=0)  # $1.00: crosses 100% too: a second delivery waits
    with django_capture_on_commit_callbacks(execute=True):
        assert attempt(delivery).status == DeliveryStatus.FAILED

    api_key.refresh_from_db()
    assert api_key.alert_webhook_url == ""
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"failed", "cancelled"}
    assert len(hook.requests) == 1 and "410" in mail.outbox[0].body


def test_a_changed_address_cancels_what_was_waiting_for_the_old_one(alice, receiver):
    hook = receiver()
    api_key = key_with_webhook(alice, hook.url())
    delivery = crossing(api_key)
    ApiKey.objects.filter(pk=api_key.pk).update(alert_webhook_url=hook.url(path="/elsewhere"))
    assert attempt(delivery).status == DeliveryStatus.CANCELLED
    assert hook.requests == []


def test_a_redirect_is_not_followed(alice, receiver):
    target = receiver()
    hook = receiver(answers=[(302, {"Location": target.url()}), (307, {"Location": target.url()})])
    delivery = attempt(crossing(key_with_webhook(alice, hook.url())))
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 302
    assert attempt(delivery).last_status_code == 307
    time.sleep(0.2)
    assert len(hook.requests) == 2 and target.requests == []


def test_a_receiver_that_never_answers_is_abandoned_at_the_deadline(alice, receiver, settings):
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 1
    hook = receiver(answers=[HANG])
    delivery = crossing(key_with_webhook(alice, hook.url()))
    started = time.monotonic()
    delivery = attempt(delivery)
    assert time.monotonic() - started < 2
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code is None
    assert "No answer within 1 seconds" in delivery.last_error


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_deadline(alice, receiver, settings):
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 1
    hook = receiver(answers=[TRICKLE])
    delivery = crossing(key_with_webhook(alice, hook.url()))
    started = time.monotonic()
    delivery = attempt(delivery)
    assert time.monotonic() - started < 2
    assert delivery.status == DeliveryStatus.PENDING and "No answer" in delivery.last_error


def test_it_reads_at_most_the_cap_of_a_large_answer(alice, receiver, settings):
    settings.ALERT_WEBHOOK_MAX_RESPONSE_BYTES = 1024
    hook = receiver()
    hook.body = b"x" * 50_000_000
    started = time.monotonic()
    delivery = attempt(crossing(key_with_webhook(alice, hook.url())))
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert time.monotonic() - started < 2


def test_a_certificate_for_another_name_is_refused(alice, receiver, dns):
    dns["other.example.net"] = ["127.0.0.1"]
    hook = receiver()
    delivery = attempt(crossing(key_with_webhook(alice, hook.url("other.example.net"))))
    assert delivery.status == DeliveryStatus.PENDING and "certificate" in delivery.last_error.lower()
    assert hook.requests == []


class Answers:
    """A DNS answer that changes: the first lookup gets ``first``, every later one ``then``."""

    def __init__(self, first: list[str], then: list[str]):
        self.first, self.then, self.lookups = first, then, 0

    def __iter__(self):
        self.lookups += 1
        return iter(self.first if self.lookups == 1 else self.then)


def test_a_dns_answer_that_turns_private_after_the_check_reaches_nothing(alice, receiver, dns, settings):
    # 127.0.0.2 stands for the public address that passed the check (the only one allowed here);
    # 127.0.0.1 for the private service the name points at a moment later.
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    public = receiver(host="127.0.0.2")
    private = receiver(host="127.0.0.1")
    answers = dns["hooks.example.com"] = Answers(["127.0.0.2"], ["127.0.0.1"])
    url = f"https://hooks.example.com:{private.port}/hooks/nexevo"
    public.server.server_close()  # nothing at the checked address on that port: the connection fails
    delivery = attempt(crossing(key_with_webhook(alice, url)))

    assert answers.lookups == 1
    assert private.requests == []
    assert delivery.status == DeliveryStatus.PENDING and "connect" in delivery.last_error.lower()


def test_the_connection_goes_to_the_checked_address_with_the_name_in_tls_and_host(
    alice, receiver, dns, settings
):
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    checked = receiver(host="127.0.0.2")
    dns["hooks.example.com"] = Answers(["127.0.0.2"], ["127.0.0.1"])
    delivery = attempt(crossing(key_with_webhook(alice, checked.url("hooks.example.com"))))
    assert delivery.status == DeliveryStatus.SUCCEEDED
    (request,) = checked.requests
    assert request.headers["host"] == f"hooks.example.com:{checked.port}"


def test_a_host_that_resolves_to_a_private_address_at_send_time_is_refused(alice, receiver, dns, settings):
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = []
    hook = receiver()
    dns["hooks.example.com"] = ["10.1.2.3"]
    delivery = attempt(crossing(key_with_webhook(alice, hook.url("hooks.example.com"))))
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error.startswith(
        "Refused: hooks.example.com resolves to 10.1.2.3, a private address"
    )
    assert hook.requests == []


def test_the_sweep_takes_due_deliveries_and_those_whose_worker_died(alice, receiver):
    from datetime import timedelta

    from django.utils import timezone

    hook = receiver()
    api_key = key_with_webhook(alice, hook.url(), cap="0.50")
    use(api_key, **EIGHTY_CENTS)  # two deliveries: 80% and 100%
    first, second = WebhookDelivery.objects.order_by("alert__threshold_pct")
    # The first one's worker claimed it a minute ago and died: its lease has run out.
    WebhookDelivery.objects.filter(pk=first.pk).update(
        attempts=1, schedule_attempts=1, locked_until=timezone.now() - timedelta(seconds=1)
    )
    # The second is being sent right now by a live worker.
    WebhookDelivery.objects.filter(pk=second.pk).update(locked_until=timezone.now() + timedelta(minutes=1))

    assert services.deliveries_send_due() == 1
    first.refresh_from_db()
    assert first.status == DeliveryStatus.SUCCEEDED and first.attempts == 2
    assert [request.headers["webhook-id"] for request in hook.requests] == [first.id]
    assert json.loads(hook.requests[0].body)["data"]["threshold_pct"] == 80
