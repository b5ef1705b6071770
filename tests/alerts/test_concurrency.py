"""Fifty usage recordings at once across a key's thresholds: one alert each, on PostgreSQL's row locks."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from alerts.models import SpendAlert, WebhookDelivery
from apikeys.models import ApiKey
from tests.alerts.conftest import key_with_webhook
from tests.billing.helpers import use
from tests.conftest import make_user

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's row locks")


def test_50_concurrent_recordings_across_the_thresholds_make_one_alert_each(transactional_db):
    api_key = key_with_webhook(make_user("busy@example.com"), "https://localhost:1/hook", cap="0.01")

    def record(_index):
        try:
            # $0.0005 each: 80% of the $0.01 cap is reached by the 16th, 100% by the 20th.
            return use(ApiKey.objects.select_related("organization").get(pk=api_key.pk))
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert len(list(pool.map(record, range(50)))) == 50

    assert Counter(SpendAlert.objects.values_list("threshold_pct", flat=True)) == {80: 1, 100: 1}
    assert WebhookDelivery.objects.count() == 2
    # Each alert was taken by the recording that reached its line, and by no other.
    assert {alert.threshold_pct: str(alert.spend_usd) for alert in SpendAlert.objects.all()} == {
        80: "0.008000",
        100: "0.010000",
    }
    api_key.refresh_from_db()
    assert str(api_key.month_to_date_spend()) == "0.025000"
