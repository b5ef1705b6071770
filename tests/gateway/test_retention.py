import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import UsageRecord
from gateway.models import KeyReservation, RequestLog
from gateway.tasks import prune_request_logs

from .conftest import chat_request, hello

pytestmark = pytest.mark.django_db


def test_request_logs_past_retention_go_and_usage_records_stay(funded, settings):
    api_key, full_key = funded
    settings.NEXEVO_REQUEST_LOG_RETENTION_DAYS = 30
    old = chat_request(full_key, hello("west/chat-a")).json()["nexevo"]["generation_id"]
    recent = chat_request(full_key, hello("west/chat-a")).json()["nexevo"]["generation_id"]
    RequestLog.objects.filter(pk=old).update(created_at=timezone.now() - datetime.timedelta(days=31))
    KeyReservation.objects.create(
        api_key=api_key, amount_usd=Decimal("0.10"), created_at=timezone.now() - datetime.timedelta(days=1)
    )

    assert prune_request_logs.delay().get() == 1
    assert prune_request_logs.delay().get() == 0  # a second run finds nothing

    assert list(RequestLog.objects.values_list("pk", flat=True)) == [recent]
    assert UsageRecord.objects.filter(pk__in=[old, recent]).count() == 2
    assert not KeyReservation.objects.exists()
