"""Rate limits per key on the chat endpoint (gateway.ratelimits): requests and tokens per minute, the
key's own or its plan's, answered 429 ``rate_limit_exceeded`` with ``Retry-After`` and OpenAI's
``x-ratelimit-*`` headers on every answer; and failed authentication limited per client address."""

import json
import math
import re

import pytest

from apikeys.models import ApiKey
from billing.models import BillingAccount
from gateway import ratelimits
from gateway.models import RequestLog

from .conftest import chat_request, hello

pytestmark = pytest.mark.django_db

RESET = re.compile(r"^(\d+m)?(\d+(\.\d+)?s|\d+ms)$")


def limit(api_key, **limits) -> None:
    ApiKey.objects.filter(pk=api_key.pk).update(**limits)


def test_it_answers_429_with_the_headers_once_the_keys_requests_per_minute_are_spent(funded):
    api_key, full_key = funded
    limit(api_key, requests_per_minute=3)

    answers = [chat_request(full_key, hello("west/chat-a")) for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    assert [answer["x-ratelimit-remaining-requests"] for answer in answers[:3]] == ["2", "1", "0"]
    refused = answers[3]
    assert refused.json() == {
        "error": {
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
            "message": refused.json()["error"]["message"],
            "param": None,
        }
    }
    assert "requests per minute (3)" in refused.json()["error"]["message"]
    # One request comes back every 20 s (3 a minute): the next fits in at most 20 s.
    assert 1 <= int(refused["Retry-After"]) <= 20
    assert refused["x-ratelimit-limit-requests"] == "3"
    assert refused["x-ratelimit-remaining-requests"] == "0"
    assert RESET.match(refused["x-ratelimit-reset-requests"])
    assert refused["x-ratelimit-limit-tokens"] == "1000000"  # the plan's
    # Refusals past the limit are not written to the request log.
    assert RequestLog.objects.filter(api_key=api_key).count() == 3


def test_it_sends_the_headers_on_every_answer_in_openais_format(funded):
    api_key, full_key = funded
    limit(api_key, requests_per_minute=6, tokens_per_minute=10_000)

    response = chat_request(full_key, hello("west/chat-a", max_tokens=40))

    assert response.status_code == 200
    assert response["x-ratelimit-limit-requests"] == "6"
    assert response["x-ratelimit-remaining-requests"] == "5"
    assert response["x-ratelimit-reset-requests"] == "10s"  # one request of 6 a minute
    assert response["x-ratelimit-limit-tokens"] == "10000"
    # Counted up front: the prompt at 4 bytes a token and max_tokens (40).
    prompt = json.dumps([hello()["messages"], None], ensure_ascii=False).encode()
    assert response["x-ratelimit-remaining-tokens"] == str(10_000 - math.ceil(len(prompt) / 4) - 40)
    assert RESET.match(response["x-ratelimit-reset-tokens"])
    # A provider's failure is answered with them too.
    failed = chat_request(full_key, hello("broken/chat", max_tokens=40))
    assert failed.status_code == 502
    assert failed["x-ratelimit-remaining-requests"] == "4"


def test_it_corrects_a_requests_tokens_to_what_the_provider_counted(funded):
    api_key, full_key = funded
    limit(api_key, tokens_per_minute=10_000)

    chat_request(full_key, hello("west/chat-a", max_tokens=4000))  # 3 + 5 tokens used, 4,014 counted
    after = chat_request(full_key, hello("west/chat-a", max_tokens=40))

    # The first counts its 8 real tokens now, the second its estimate (54): nothing of the 4,014.
    assert int(after["x-ratelimit-remaining-tokens"]) >= 10_000 - 8 - 54 - 1


def test_it_refuses_a_request_that_does_not_fit_in_what_is_left_of_the_tokens(funded):
    api_key, full_key = funded
    limit(api_key, tokens_per_minute=5000)

    held = chat_request(full_key, hello("west/chat-a", max_tokens=4000))
    assert held.status_code == 200
    # 4,014 counted up front, corrected to 8: there is room for the next 4,014.
    assert chat_request(full_key, hello("west/chat-a", max_tokens=4000)).status_code == 200

    too_large = chat_request(full_key, hello("west/chat-a", max_tokens=6000))
    assert too_large.status_code == 429
    error = too_large.json()["error"]
    assert (error["code"], error["param"]) == ("rate_limit_exceeded", "max_tokens")
    assert "can never be served under that limit" in error["message"]


def test_it_takes_the_plans_limits_for_a_key_that_sets_none(funded):
    api_key, full_key = funded
    plan = BillingAccount.objects.get(organization=api_key.organization).plan
    plan.requests_per_minute = 2
    plan.save()

    statuses = [chat_request(full_key, hello("west/chat-a")).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_it_gives_a_request_refused_by_the_cap_back_to_the_rate_limits(funded):
    from decimal import Decimal

    api_key, full_key = funded
    limit(api_key, requests_per_minute=2, monthly_spend_cap_usd=Decimal("0.0001"))

    refused = [chat_request(full_key, hello("west/chat-a")) for _ in range(3)]  # no max_tokens: too dear

    assert [answer.status_code for answer in refused] == [402, 402, 402]
    assert refused[-1]["x-ratelimit-remaining-requests"] == "2"  # none of them counted


def test_it_limits_failed_authentication_per_client_address(funded, settings):
    _api_key, full_key = funded
    settings.NEXEVO_CHAT_AUTH_FAILURES_PER_MINUTE = 5
    forged = "nx_" + "A" * 38

    answers = [chat_request(forged, hello(), REMOTE_ADDR="203.0.113.7").status_code for _ in range(7)]

    assert answers == [401] * 5 + [429] * 2
    # The address is refused whatever key it sends, until its minute is over ...
    blocked = chat_request(full_key, hello("west/chat-a"), REMOTE_ADDR="203.0.113.7")
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(blocked["Retry-After"]) <= 60
    # ... and no other address is.
    assert chat_request(full_key, hello("west/chat-a"), REMOTE_ADDR="203.0.113.8").status_code == 200
    assert chat_request(forged, hello(), REMOTE_ADDR="203.0.113.8").status_code == 401


def test_it_reads_the_client_address_behind_trusted_proxies_only(funded, settings):
    settings.NEXEVO_CHAT_AUTH_FAILURES_PER_MINUTE = 2
    forged = "nx_" + "B" * 38

    # Without a trusted proxy, a client cannot dodge the limit by rotating X-Forwarded-For.
    statuses = [
        chat_request(
            forged, hello(), REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}"
        ).status_code
        for n in range(4)
    ]

    assert statuses == [401, 401, 429, 429]


@pytest.mark.parametrize(
    ("seconds", "spelled"),
    [
        (0.0004, "1ms"),
        (0.02, "20ms"),
        (0.1, "100ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (59.999, "59.999s"),
        (60, "1m0s"),
        (360, "6m0s"),
        (90.25, "1m30.25s"),
    ],
)
def test_it_spells_durations_as_openai_does(seconds, spelled):
    assert ratelimits.duration(seconds) == spelled
