"""Django admin lists deliveries and alerts with search and filters, read-only, without secrets."""

from alerts import services
from alerts.models import WebhookDelivery
from tests.admin_urls import admin_url
from tests.alerts.conftest import key_with_webhook
from tests.billing.helpers import use


def test_deliveries_and_alerts_open_in_admin(staff_client, alice):
    api_key = key_with_webhook(alice, "https://localhost:1/hook")
    use(api_key, prompt=1_000_000, completion=1_000_000)
    delivery = WebhookDelivery.objects.get()
    services.delivery_attempt(delivery_id=delivery.id)
    pages = {
        f"/admin/alerts/webhookdelivery/?q={api_key.id}&status__exact=pending": delivery.id,
        "/admin/alerts/webhookdelivery/?event_type__exact=key.spend_threshold_crossed": delivery.id,
        admin_url(delivery): "Could not connect",
        "/admin/alerts/spendalert/?q=prod&threshold_pct__exact=80": "80",
    }
    for path, expected in pages.items():
        response = staff_client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        assert expected in body, path
        assert api_key.webhook_secret not in body, path
    assert staff_client.get("/admin/alerts/webhookdelivery/add/").status_code == 403
