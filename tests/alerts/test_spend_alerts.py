"""Spend alerts: one per threshold per key per month, recorded with or without a webhook."""

import json
from decimal import Decimal

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import DeliveryStatus, SpendAlert, WebhookDelivery
from billing.services import usage_record
from tests.alerts.conftest import key_with_webhook
from tests.billing.helpers import use
from tests.conftest import new_key

# nexevo/fast on pay-as-you-go: $0.20 per 1M tokens in, $0.60 out.
EIGHTY_CENTS = {"prompt": 1_000_000, "completion": 1_000_000}
FIVE_CENTS = {"prompt": 100_000, "completion": 50_000}


def test_it_records_an_alert_when_spend_reaches_80_percent_of_the_cap(alice):
    api_key = key_with_webhook(alice, "https://localhost:1/hook", cap="1.00")
    use(api_key, **FIVE_CENTS)
    assert not SpendAlert.objects.exists()

    use(api_key, **EIGHTY_CENTS)  # $0.85 of $1.00
    alert = SpendAlert.objects.get()
    assert (alert.threshold_pct, alert.cap_usd, alert.spend_usd) == (80, Decimal("1.00"), Decimal("0.85"))
    delivery = WebhookDelivery.objects.get()
    assert delivery.alert == alert and delivery.status == DeliveryStatus.PENDING
    assert delivery.url == "https://localhost:1/hook"


def test_the_payload_names_the_key_the_threshold_and_the_money_as_strings(alice):
    api_key = key_with_webhook(alice, "https://localhost:1/hook", cap="1.00")
    with time_machine.travel("2026-11-25 19:30:00Z", tick=False):
        use(api_key, **EIGHTY_CENTS)
    body = json.loads(WebhookDelivery.objects.get().body)
    assert body == {
        "type": "key.spend_threshold_crossed",
        "timestamp": "2026-11-25T19:30:00Z",
        "data": {
            "key_id": api_key.id,
            "key_name": "prod",
            "organization_id": api_key.organization_id,
            "threshold_pct": 80,
            "cap_usd": "1.00",
            "spend_month_to_date_usd": "0.80",
            "month": "2026-11",
        },
    }
    assert api_key.webhook_secret not in WebhookDelivery.objects.get().body


def test_each_threshold_alerts_once_a_month_and_again_the_next_month(alice):
    api_key = key_with_webhook(alice, "https://localhost:1/hook", cap="1.00")
    with time_machine.travel("2026-11-10 12:00:00Z"):
        use(api_key, **EIGHTY_CENTS)
        use(api_key, **FIVE_CENTS)
        use(api_key, **FIVE_CENTS)
        use(api_key, **FIVE_CENTS)  # $0.95
        use(api_key, **FIVE_CENTS)  # $1.00
        use(api_key, **FIVE_CENTS)
    assert sorted(SpendAlert.objects.values_list("threshold_pct", flat=True)) == [80, 100]
    with time_machine.travel("2026-12-01 00:00:01Z"):
        use(api_key, **EIGHTY_CENTS)
    assert [
        (f"{month:%Y-%m}", threshold)
        for month, threshold in SpendAlert.objects.values_list("month", "threshold_pct").order_by(
            "month", "threshold_pct"
        )
    ] == [("2026-11", 80), ("2026-11", 100), ("2026-12", 80)]
    assert WebhookDelivery.objects.count() == 3


def test_one_recording_over_both_lines_records_both(alice):
    api_key = key_with_webhook(alice, "https://localhost:1/hook", cap="0.50")
    use(api_key, **EIGHTY_CENTS)
    assert sorted(SpendAlert.objects.values_list("threshold_pct", flat=True)) == [80, 100]
    assert WebhookDelivery.objects.count() == 2


def test_a_key_without_a_webhook_records_the_alert_and_sends_nothing(alice):
    api_key, _ = new_key(alice)
    api_key.monthly_spend_cap_usd = Decimal("1.00")
    api_key.save()
    use(api_key, **EIGHTY_CENTS)
    assert SpendAlert.objects.get().threshold_pct == 80
    assert not WebhookDelivery.objects.exists()


def test_a_key_without_a_cap_has_no_alerts(alice):
    api_key = key_with_webhook(alice, "https://localhost:1/hook", cap=None)
    use(api_key, **EIGHTY_CENTS)
    assert not SpendAlert.objects.exists()


def test_below_every_threshold_recording_usage_costs_no_extra_query(alice):
    api_key = key_with_webhook(alice, "https://localhost:1/hook", cap="1000.00")
    use(api_key, **FIVE_CENTS)  # the billing account exists from here on
    with CaptureQueriesContext(connection) as queries:
        usage_record(
            api_key=api_key,
            requested_model="nexevo/fast",
            model="nexevo/fast",
            prompt_tokens=1,
            completion_tokens=1,
        )
    assert not any("alerts_" in query["sql"] for query in queries.captured_queries)
