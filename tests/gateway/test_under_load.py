"""The endpoint under uvicorn on PostgreSQL (and Redis when REDIS_URL is set): caps that hold under
concurrency, streams relayed as they arrive, and a client that goes away mid-stream."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
from django.conf import settings

from apikeys.models import ApiKey
from billing.models import UsageRecord
from gateway import leases
from gateway.models import Provider, RequestLog
from gateway.services import providers_load
from gateway.spend_counters import spend_in_flight
from tests.billing.helpers import credit
from tests.conftest import make_user, new_key

from .conftest import catalog_for, hello


@pytest.fixture
def loaded(asgi_server, fake_upstream):
    fake_upstream.requests.clear()
    providers_load(catalog_for(fake_upstream))
    user = make_user("loaded@example.com")
    api_key, full_key = new_key(user)
    credit(api_key.organization, "100.00")
    return asgi_server, api_key, full_key, fake_upstream


@pytest.mark.parametrize("counter", ["redis", "database"])
def test_200_concurrent_requests_never_take_a_key_past_its_cap(loaded, counter, monkeypatch):
    """Both spend counters: Redis's (with REDIS_URL) and the database's row lock (without)."""
    if counter == "redis" and not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    if counter == "database":
        monkeypatch.setattr(settings, "REDIS_URL", None)
    base, api_key, full_key, _upstream = loaded
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("1.00"))
    # filler/chat uses all of max_tokens: 4,700 tokens at $2.00/M plus 5% is $0.00987 a request.
    body = hello("filler/chat", max_tokens=4700)

    def send(_):
        with httpx.Client(timeout=60) as client:
            response = client.post(
                f"{base}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {full_key}"}
            )
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(send, range(200)))

    served = [body for status, body in answers if status == 200]
    refused = [(status, body) for status, body in answers if status != 200]
    assert all(status == 402 and body["error"]["code"] == "spend_cap_exceeded" for status, body in refused), (
        refused[:3]
    )
    spend = ApiKey.objects.get(pk=api_key.pk).month_to_date_spend()
    assert spend <= Decimal("1.00")
    assert spend == sum(Decimal(body["nexevo"]["cost_usd"]) for body in served)
    assert spend == sum(UsageRecord.objects.filter(api_key=api_key).values_list("cost_usd", flat=True))
    # The holds were all released, so the cap was nearly reached: 101 requests fit at most.
    assert 95 <= len(served) <= 101
    # Every hold is settled; what is left of the server's lease on the cap (gateway.leases, with
    # Redis) goes back to the counter once the key is idle.
    deadline = time.monotonic() + leases.IDLE_SECONDS + 5
    while spend_in_flight(api_key) != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert spend_in_flight(api_key) == 0
    assert RequestLog.objects.filter(api_key=api_key).count() == 200


def test_a_stream_reaches_the_client_before_the_provider_has_finished(loaded):
    base, _api_key, full_key, upstream = loaded
    arrivals = []
    with httpx.Client(timeout=30) as client:
        started = time.monotonic()
        with client.stream(
            "POST",
            f"{base}/v1/chat/completions",
            json=hello("slowpoke/chat", stream=True),
            headers={"Authorization": f"Bearer {full_key}"},
        ) as response:
            assert response.status_code == 200
            generation = response.headers["X-Nexevo-Generation-Id"]
            for line in response.iter_lines():
                if line.startswith("data: ") and '"content"' in line:
                    arrivals.append(time.monotonic() - started)
    # The slow provider waits 0.3 s before each of its 5 words: the first reached us long before
    # the last was written.
    assert len(arrivals) == 5
    assert arrivals[-1] - arrivals[0] > 1.0
    assert UsageRecord.objects.get(pk=generation).completion_tokens == 5


def test_a_client_that_goes_away_mid_stream_is_still_charged_for_what_was_produced(loaded):
    base, api_key, full_key, _upstream = loaded
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            f"{base}/v1/chat/completions",
            json=hello("slowpoke/chat", stream=True),
            headers={"Authorization": f"Bearer {full_key}"},
        ) as response,
    ):
        generation = response.headers["X-Nexevo-Generation-Id"]
        for line in response.iter_lines():
            if '"content"' in line:
                break  # one word in, hang up

    deadline = time.monotonic() + 10
    while not UsageRecord.objects.filter(pk=generation).exists():
        assert time.monotonic() < deadline, "the abandoned stream was never recorded"
        time.sleep(0.1)
    record = UsageRecord.objects.get(pk=generation)
    assert 1 <= record.completion_tokens < 5
    log = RequestLog.objects.get(pk=generation)
    assert (log.status, log.error_code) == ("incomplete", "client_disconnected")
    assert spend_in_flight(api_key) == 0


def test_a_provider_that_stops_answering_falls_over_before_the_first_byte(loaded, monkeypatch):
    base, _api_key, full_key, upstream = loaded
    monkeypatch.setattr(settings, "NEXEVO_UPSTREAM_READ_TIMEOUT", 1)
    Provider.objects.filter(pk="west").update(base_url=upstream.url("hang"))

    with httpx.Client(timeout=30) as client:
        answers = [
            client.post(
                f"{base}/v1/chat/completions",
                json=hello("nexevo/fast", stream=True),
                headers={"Authorization": f"Bearer {full_key}"},
            )
            for _ in range(3)
        ]
    for response in answers:
        assert response.status_code == 200
        events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
        assert events[-1]["nexevo"]["model"] == "east/chat-c"
