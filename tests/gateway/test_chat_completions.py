"""POST /v1/chat/completions against a real OpenAI-compatible server on loopback."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from billing.models import BillingAccount, LedgerEntry, UsageRecord
from gateway.models import OrganizationProviderKey, Provider, RequestLog
from tests.conftest import new_key

from .conftest import chat_request, hello, stream_request

pytestmark = pytest.mark.django_db

MICRO = Decimal("0.000001")


def passthrough_cost(prompt: int, completion: int) -> Decimal:
    """$1.00/M in and $2.00/M out (the test catalog's list price), plus the payg markup of 5%."""
    return ((Decimal(prompt) * 1 + Decimal(completion) * 2) / 1_000_000 * Decimal("1.05")).quantize(MICRO)


def test_a_completion_is_answered_priced_and_recorded(funded, upstream):
    api_key, full_key = funded

    response = chat_request(full_key, hello("west/chat-a"))

    assert response.status_code == 200
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "word0 word1 word2 word3 word4"
    nexevo = body["nexevo"]
    assert response["X-Nexevo-Generation-Id"] == nexevo["generation_id"]
    assert nexevo["generation_id"].startswith("gen_")
    # 3 prompt tokens and 5 completion tokens: 0.0000136 rounds half-even to 0.000014.
    assert passthrough_cost(3, 5) == Decimal("0.000014")
    assert nexevo == {
        "generation_id": nexevo["generation_id"],
        "tier": "passthrough",
        "model": "west/chat-a",
        "cost_usd": "0.000014",
    }
    record = UsageRecord.objects.get(pk=nexevo["generation_id"])
    assert (record.prompt_tokens, record.completion_tokens, record.cost_usd) == (3, 5, Decimal("0.000014"))
    assert LedgerEntry.objects.get(reference=record.pk).amount_usd == Decimal("-0.000014")
    assert BillingAccount.objects.get(organization=api_key.organization).balance_usd == Decimal("9.999986")
    assert ApiKey.objects.get(pk=api_key.pk).month_to_date_spend() == Decimal("0.000014")
    log = RequestLog.objects.get(pk=record.pk)
    assert (log.status, log.http_status, log.model, log.provider, log.attempts, log.cost_usd) == (
        "completed",
        200,
        "west/chat-a",
        "west",
        1,
        Decimal("0.000014"),
    )
    # The provider got its own model name and the platform's provider key, never the caller's key.
    [call] = upstream.requests
    assert call["model"] == "chat-a"
    assert call["authorization"] == "Bearer sk-west"


def test_a_pool_model_is_priced_at_the_tier_rate(funded):
    _key, full_key = funded

    body = chat_request(full_key, hello("nexevo/fast")).json()

    # payg fast: $0.20/M in, $0.60/M out → 3 × 0.20 + 5 × 0.60 = 3.6 micro-dollars → 0.000004.
    assert body["nexevo"]["tier"] == "fast"
    assert body["nexevo"]["model"] in {"west/chat-a", "east/chat-c"}
    assert body["nexevo"]["cost_usd"] == "0.000004"


def test_a_stream_is_relayed_and_costs_what_the_same_tokens_cost_unstreamed(funded, upstream):
    _key, full_key = funded
    plain = chat_request(full_key, hello("west/chat-a")).json()

    response, events = stream_request(full_key, hello("west/chat-a", stream=True))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    words = [e["choices"][0]["delta"].get("content") for e in events[:-2] if e.get("choices")]
    assert "".join(w for w in words if w) == "word0 word1 word2 word3 word4"
    assert events[-1] == "[DONE]"
    summary = events[-2]["nexevo"]
    assert summary["generation_id"] == response["X-Nexevo-Generation-Id"]
    assert summary["cost_usd"] == plain["nexevo"]["cost_usd"]
    streamed = UsageRecord.objects.get(pk=summary["generation_id"])
    unstreamed = UsageRecord.objects.get(pk=plain["nexevo"]["generation_id"])
    assert (streamed.prompt_tokens, streamed.completion_tokens, streamed.cost_usd) == (
        unstreamed.prompt_tokens,
        unstreamed.completion_tokens,
        unstreamed.cost_usd,
    )
    # The provider was asked for the usage in its final chunk.
    assert upstream.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_a_stream_the_provider_cuts_short_is_recorded_for_what_was_produced(funded):
    _key, full_key = funded

    response, events = stream_request(full_key, hello("halting/chat", stream=True))

    assert events[-1]["error"]["code"] == "upstream_closed_early"
    generation = response["X-Nexevo-Generation-Id"]
    record = UsageRecord.objects.get(pk=generation)
    # Two content chunks arrived; without the provider's count each one is a token. The prompt is
    # estimated at a token per 4 bytes of the messages.
    assert record.completion_tokens == 2
    assert record.prompt_tokens > 0
    assert RequestLog.objects.get(pk=generation).status == "incomplete"


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "missing_model", "model"),
        (
            {"model": "nobody/nothing", "messages": [{"role": "user", "content": "hi"}]},
            "unknown_model",
            "model",
        ),
        ({"model": "nexevo/fast", "messages": "hi"}, "invalid_messages", "messages"),
        ({"model": "nexevo/fast", "messages": []}, "invalid_messages", "messages"),
        ({"model": "nexevo/fast", "messages": ["hi"]}, "invalid_messages", "messages"),
        ({"model": 7, "messages": [{"role": "user", "content": "hi"}]}, "invalid_model", "model"),
        (hello("nexevo/fast", max_tokens=-1), "invalid_max_tokens", "max_tokens"),
        (hello("nexevo/fast", max_tokens=0), "invalid_max_tokens", "max_tokens"),
        (hello("nexevo/fast", max_tokens="9"), "invalid_max_tokens", "max_tokens"),
        (hello("nexevo/fast", stream="yes"), "invalid_stream", "stream"),
        (b"{not json", "invalid_json", None),
        (b"[1, 2]", "invalid_json", None),
        (b'{"model": "nexevo/fast", "messages": [], "temperature": NaN}', "invalid_json", None),
    ],
)
def test_bad_input_is_a_400_in_the_envelope_and_costs_nothing(funded, upstream, body, code, param):
    api_key, full_key = funded

    response = chat_request(full_key, body)

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": code,
            "message": response.json()["error"]["message"],
            "param": param,
        }
    }
    assert upstream.requests == []
    assert not UsageRecord.objects.exists()
    assert BillingAccount.objects.get(organization=api_key.organization).balance_usd == Decimal("10.00")


def test_unknown_revoked_and_expired_keys_are_401(funded, alice, upstream):
    _key, _full = funded
    revoked, revoked_full = new_key(alice, name="revoked")
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    expired, expired_full = new_key(alice, name="expired")
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    answers = {
        "unknown": chat_request("nx_" + "x" * 40, hello()),
        "revoked": chat_request(revoked_full, hello()),
        "expired": chat_request(expired_full, hello()),
        "none": chat_request("", hello()),
    }

    for name, response in answers.items():
        assert response.status_code == 401, name
        assert response.json()["error"]["type"] == "authentication_error", name
    assert answers["expired"].json()["error"]["code"] == "key_expired"
    assert upstream.requests == []


def test_no_balance_is_402_insufficient_balance(alice, catalog):
    _key, full_key = new_key(alice)

    response = chat_request(full_key, hello())

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_balance"
    assert response.json()["error"]["type"] == "billing_error"
    assert catalog.requests == []
    assert RequestLog.objects.get().status == "refused"


def test_a_key_at_its_cap_is_402_spend_cap_exceeded(funded, upstream):
    api_key, full_key = funded
    month = timezone.now().date().replace(day=1)
    ApiKey.objects.filter(pk=api_key.pk).update(
        monthly_spend_cap_usd=Decimal("1.00"), spend_month=month, spend_month_to_date_usd=Decimal("1.00")
    )

    response = chat_request(full_key, hello())

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "spend_cap_exceeded"
    assert upstream.requests == []


def test_a_request_whose_worst_case_would_pass_the_cap_is_refused_before_it_runs(funded, upstream):
    api_key, full_key = funded
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("0.01"))

    # 8192 tokens of context at $2.00/M (+5%) could cost about $0.017: more than the whole cap.
    refused = chat_request(full_key, hello("west/chat-a"))
    # With max_tokens the worst case is small and fits.
    allowed = chat_request(full_key, hello("west/chat-a", max_tokens=100))

    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "spend_cap_exceeded"
    assert allowed.status_code == 200
    assert len(upstream.requests) == 1


def test_a_pool_falls_back_when_a_candidate_fails(funded, upstream):
    _key, full_key = funded
    Provider.objects.filter(pk="west").update(base_url=upstream.url("fail"))

    for _ in range(5):
        response = chat_request(full_key, hello("nexevo/balanced"))
        assert response.status_code == 200
        assert response.json()["nexevo"]["model"] == "east/chat-c"
    log = RequestLog.objects.filter(attempts__gt=1).first()
    assert log is not None and log.status == "completed"


def test_an_upstream_500_is_a_502_and_a_timeout_a_504(funded, upstream, settings):
    api_key, full_key = funded
    settings.NEXEVO_UPSTREAM_READ_TIMEOUT = 1
    settings.NEXEVO_UPSTREAM_TOTAL_TIMEOUT = 1

    failed = chat_request(full_key, hello("broken/chat"))
    timed_out = chat_request(full_key, hello("sleepy/chat"))
    cut = chat_request(full_key, hello("halting/chat"))

    assert failed.status_code == 502
    assert failed.json()["error"] == {
        "type": "api_error",
        "code": "upstream_error",
        "message": "The model provider failed to answer. Try again.",
        "param": None,
    }
    assert timed_out.status_code == 504
    assert timed_out.json()["error"]["code"] == "upstream_timeout"
    assert cut.status_code == 502
    assert not UsageRecord.objects.exists()
    assert BillingAccount.objects.get(organization=api_key.organization).balance_usd == Decimal("10.00")
    assert sorted(RequestLog.objects.values_list("http_status", flat=True)) == [502, 502, 504]


def test_a_provider_refusing_the_request_is_a_400_without_fallback(funded, upstream):
    _key, full_key = funded

    response = chat_request(full_key, hello("picky/chat"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "upstream_rejected"
    assert response.json()["error"]["message"] == "This model's context is too short."


def test_an_organizations_own_provider_key_makes_it_byok(funded, upstream):
    api_key, full_key = funded
    own = OrganizationProviderKey(organization=api_key.organization, provider_id="west", last_four="mine")
    own.set_api_key("sk-org-own-mine")
    own.save()

    body = chat_request(full_key, hello("west/chat-a")).json()

    assert body["nexevo"]["tier"] == "byok"
    assert upstream.requests[-1]["authorization"] == "Bearer sk-org-own-mine"
    # byok on payg: 3% of the list price, 13 micro-dollars × 3% → 0.00000039 → 0.000000.
    assert body["nexevo"]["cost_usd"] == "0.00"


def test_without_redis_capped_keys_get_a_503_and_the_others_are_served(funded, alice, settings, monkeypatch):
    """Redis unreachable (a closed port): a cap cannot be checked, so that key waits; a key without a
    cap needs no counter and is served."""
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # its own clients (gateway.redis_clients, by URL)
    uncapped_key, uncapped_full = funded
    capped, capped_full = new_key(alice, name="capped")
    ApiKey.objects.filter(pk=capped.pk).update(monthly_spend_cap_usd=Decimal("5.00"))

    paused = chat_request(capped_full, hello(max_tokens=10))
    served = chat_request(uncapped_full, hello(max_tokens=10))

    assert paused.status_code == 503
    assert paused.json()["error"]["type"] == "api_error"
    assert paused.json()["error"]["code"] == "service_unavailable"
    assert served.status_code == 200
    assert UsageRecord.objects.filter(api_key=uncapped_key).count() == 1
