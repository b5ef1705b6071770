"""The key page's Alert deliveries: what was sent and how it went, "Send a test event" and "Redeliver"."""

import json
import re

from django.test import Client

from alerts import services
from alerts.models import DeliveryStatus, WebhookDelivery
from apikeys.services import key_create
from tests.alerts.conftest import key_with_webhook
from tests.billing.helpers import use
from tests.orgs.helpers import acme_with

EIGHTY_CENTS = {"prompt": 1_000_000, "completion": 1_000_000}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_shows_each_delivery_with_its_attempts(alice, receiver):
    hook = receiver(answers=[500, 200])
    api_key = key_with_webhook(alice, hook.url())
    use(api_key, **EIGHTY_CENTS)
    delivery = WebhookDelivery.objects.get()
    services.delivery_attempt(delivery_id=delivery.id)
    services.delivery_attempt(delivery_id=delivery.id)

    page = signed_in(alice).get(f"/keys/{api_key.id}/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "key.spend_threshold_crossed" in body and delivery.id in body
    text = re.sub(r"<[^>]+>", "", body)
    assert "500, 200" in text and "delivered" in body and " ms" in body
    assert "80%" in body  # the spend alert itself


def test_a_key_without_a_webhook_still_shows_its_alerts(alice):
    from decimal import Decimal

    from tests.conftest import new_key

    api_key, _ = new_key(alice)
    api_key.monthly_spend_cap_usd = Decimal("1.00")
    api_key.save()
    use(api_key, **EIGHTY_CENTS)
    body = signed_in(alice).get(f"/keys/{api_key.id}/").content.decode()
    assert "80%" in body and "set an alert webhook above" in body and "Send a test event" not in body


def test_send_a_test_event(alice, receiver):
    hook = receiver()
    api_key = key_with_webhook(alice, hook.url())
    response = signed_in(alice).post(f"/keys/{api_key.id}/webhook-test/")
    assert response.status_code == 302
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "key.webhook_test" and delivery.alert is None
    assert json.loads(delivery.body)["data"] == {
        "key_id": api_key.id,
        "key_name": "prod",
        "organization_id": api_key.organization_id,
    }
    assert services.delivery_attempt(delivery_id=delivery.id).status == DeliveryStatus.SUCCEEDED
    assert len(hook.requests) == 1


def test_redeliver_sends_the_same_event_again_with_its_webhook_id(alice, receiver):
    hook = receiver()
    api_key = key_with_webhook(alice, hook.url())
    delivery = services.delivery_attempt(delivery_id=services.webhook_test_send(api_key=api_key).id)
    assert delivery.status == DeliveryStatus.SUCCEEDED

    response = signed_in(alice).post(f"/keys/{api_key.id}/deliveries/{delivery.id}/redeliver/")
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert services.delivery_attempt(delivery_id=delivery.id).attempts == 2
    first, second = hook.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.id
    assert first.body == second.body


def test_redeliver_needs_a_webhook(alice, receiver):
    hook = receiver()
    api_key = key_with_webhook(alice, hook.url())
    delivery = services.webhook_test_send(api_key=api_key)
    api_key.alert_webhook_url = ""
    api_key.save()
    response = signed_in(alice).post(f"/keys/{api_key.id}/deliveries/{delivery.id}/redeliver/", follow=True)
    assert "Set a webhook address first" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.attempts == 0


def test_the_buttons_need_a_post(alice):
    api_key = key_with_webhook(alice, "https://localhost:1/hook")
    delivery = services.webhook_test_send(api_key=api_key)
    client = signed_in(alice)
    assert client.get(f"/keys/{api_key.id}/webhook-test/").status_code == 405
    assert client.get(f"/keys/{api_key.id}/deliveries/{delivery.id}/redeliver/").status_code == 405


def test_anonymous_visitors_are_sent_to_sign_in(alice):
    api_key = key_with_webhook(alice, "https://localhost:1/hook")
    response = Client().post(f"/keys/{api_key.id}/webhook-test/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not WebhookDelivery.objects.exists()


def test_an_outsider_gets_404_and_changes_nothing(alice, charlie):
    api_key = key_with_webhook(alice, "https://localhost:1/hook")
    delivery = services.delivery_attempt(delivery_id=services.webhook_test_send(api_key=api_key).id)
    before = list(WebhookDelivery.objects.values())
    client = signed_in(charlie)
    assert client.get(f"/keys/{api_key.id}/").status_code == 404
    assert client.post(f"/keys/{api_key.id}/webhook-test/").status_code == 404
    assert client.post(f"/keys/{api_key.id}/deliveries/{delivery.id}/redeliver/").status_code == 404
    assert list(WebhookDelivery.objects.values()) == before


def test_a_delivery_of_another_key_is_404(alice):
    api_key = key_with_webhook(alice, "https://localhost:1/hook")
    other = key_with_webhook(alice, "https://localhost:1/other", name="other")
    delivery = services.webhook_test_send(api_key=other)
    response = signed_in(alice).post(f"/keys/{api_key.id}/deliveries/{delivery.id}/redeliver/")
    assert response.status_code == 404


def test_a_developer_acts_on_their_own_keys_only(alice, bob):
    acme = acme_with(alice, developer=bob)
    alices_key, _ = key_create(organization=acme, created_by=alice, name="alice's")
    bobs_key, _ = key_create(organization=acme, created_by=bob, name="bob's")
    from apikeys.models import ApiKey
    from apikeys.services import new_webhook_secret

    ApiKey.objects.update(alert_webhook_url="https://localhost:1/hook", webhook_secret=new_webhook_secret())
    client = signed_in(bob)
    client.post("/organizations/switch/", {"organization_id": acme.id})
    assert client.post(f"/keys/{alices_key.id}/webhook-test/").status_code == 404
    assert client.post(f"/keys/{bobs_key.id}/webhook-test/").status_code == 302
    assert list(WebhookDelivery.objects.values_list("api_key_id", flat=True)) == [bobs_key.id]


def test_the_page_runs_the_same_queries_for_2_and_20_deliveries(alice, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api_key = key_with_webhook(alice, "https://localhost:1/hook")
    client = signed_in(alice)
    for _ in range(2):
        services.delivery_attempt(delivery_id=services.webhook_test_send(api_key=api_key).id)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/keys/{api_key.id}/")
    for _ in range(18):
        services.delivery_attempt(delivery_id=services.webhook_test_send(api_key=api_key).id)
    with django_assert_num_queries(len(few.captured_queries)):
        body = client.get(f"/keys/{api_key.id}/").content.decode()
    assert body.count("data-delivery-id=") == 20
