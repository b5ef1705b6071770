"""Every malformed chat body is a 400 in the error envelope, checked before anything is held, through
both doors (Django's view and the ASGI door in front of it); and whatever way an admitted request
ends, its hold on the key's cap and its place in the rate limits are given back."""

import asyncio
import json
from decimal import Decimal

import httpx
import pytest
from django.conf import settings

from apikeys.models import ApiKey
from billing.models import UsageRecord
from gateway import ratelimits
from gateway.body import MAX_DEPTH
from gateway.models import RequestLog
from gateway.spend_counters import spend_in_flight

from .conftest import chat_request, hello
from .test_asgi_door import call

CAP = Decimal("0.01")
# Each request below asks for 4,000 tokens: a worst case of $0.0084 on west/chat-a, so one hold left
# behind refuses the probe after them (another $0.0095: both cannot fit in the $0.01 cap).
MAX_TOKENS = 4000
PROBE_TOKENS = 4500


def chat(model="west/chat-a", **extra) -> dict:
    return hello(model, max_tokens=MAX_TOKENS, **extra)


def nested(levels: int) -> bytes:
    """A chat body whose ``metadata`` holds arrays ``levels`` deep (the body itself is one more)."""
    return raw_with(metadata=("[" * levels + "]" * levels))


def raw_with(**fields) -> bytes:
    """A chat body whose fields are spliced in as raw JSON text (for escapes json.dumps would not write)."""
    body = json.dumps(chat())[:-1]
    return (body + "".join(f', "{name}": {text}' for name, text in fields.items()) + "}").encode()


def contents(content: str) -> bytes:
    messages = f'[{{"role": "user", "content": {content}}}]'
    return f'{{"model": "west/chat-a", "max_tokens": {MAX_TOKENS}, "messages": {messages}}}'.encode()


# (body, code, param): the findings first, then the rest of the policy.
MALFORMED = [
    (chat(stream=True, stream_options="x"), "invalid_type", "stream_options"),
    (chat(stream_options="x"), "invalid_type", "stream_options"),
    (
        chat(stream=True, stream_options={"include_usage": "yes"}),
        "invalid_type",
        "stream_options.include_usage",
    ),
    (raw_with(stream="true", user='"\\ud800"'), "invalid_text", "user"),
    (raw_with(user='"\\ud800"'), "invalid_text", "user"),
    (raw_with(user='"a\\u0000b"'), "invalid_text", "user"),
    (contents('"hi \\udfff"'), "invalid_text", "messages[0].content"),
    (contents('"hi \\u0000"'), "invalid_text", "messages[0].content"),
    (contents('[{"type": "text", "text": "\\ud83d"}]'), "invalid_text", "messages[0].content[0].text"),
    (
        b'{"model": "west/chat-a\\ud800", "max_tokens": 4000, '
        b'"messages": [{"role": "user", "content": "hi"}]}',
        "invalid_text",
        "model",
    ),
    (
        b'{"model": "west/chat-a", "max_tokens": 4000, '
        b'"messages": [{"role": "user", "name": "\\u0000", "content": "hi"}]}',
        "invalid_text",
        "messages[0].name",
    ),
    (
        raw_with(tools='[{"type": "function", "function": {"name": "f\\ud800", "parameters": {}}}]'),
        "invalid_text",
        "tools[0].function.name",
    ),
    (raw_with(metadata='{"\\u0000": 1}'), "invalid_text", "metadata"),
    # Raw bytes that UTF-8 forbids (a surrogate spelled in bytes): not JSON we accept.
    (json.dumps(chat()).encode().replace(b"Hello", b"\xed\xa0\x80"), "invalid_json", None),
    (nested(10_000), "json_too_deep", None),
    (nested(MAX_DEPTH), "json_too_deep", None),
    (b"[" * 10_000 + b"]" * 10_000, "json_too_deep", None),
    (chat(user=7), "invalid_type", "user"),
    (chat(temperature="hot"), "invalid_type", "temperature"),
    (chat(stop=[1]), "invalid_type", "stop"),
    (chat(tools="x"), "invalid_type", "tools"),
    (chat(tool_choice=3), "invalid_type", "tool_choice"),
    (chat(seed=1.5), "invalid_type", "seed"),
    (chat() | {"messages": [{"role": 1, "content": "x"}]}, "invalid_messages", "messages[0].role"),
    (chat() | {"messages": [{"role": "user", "content": 5}]}, "invalid_messages", "messages[0].content"),
    (chat() | {"messages": [{"role": "user", "content": ["x"]}]}, "invalid_messages", "messages[0].content"),
]


def encoded(body) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture(params=["database", "redis"])
def capped(request, funded, monkeypatch):
    """Alice's funded key with a $0.01 cap, on either spend counter: the database's (without Redis)
    or Redis's (with REDIS_URL, the suite's second pass)."""
    if request.param == "redis" and not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    if request.param == "database":
        monkeypatch.setattr(settings, "REDIS_URL", None)
    api_key, full_key = funded
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=CAP)
    return api_key, full_key


def assert_refused(status: int, body: dict, code: str, param) -> None:
    assert status == 400, body
    assert body == {
        "error": {
            "type": "invalid_request_error",
            "code": code,
            "message": body["error"]["message"],
            "param": param,
        }
    }


def assert_spends_up_to_its_cap(api_key, send) -> None:
    """Nothing is held, and the key still serves a request whose worst case is nearly all its cap."""
    assert spend_in_flight(api_key) == 0
    status, body = send(hello("west/chat-a", max_tokens=PROBE_TOKENS))
    assert status == 200, body
    assert spend_in_flight(api_key) == 0


def test_it_refuses_each_malformed_body_with_a_400_through_django_and_holds_nothing(capped, upstream):
    api_key, full_key = capped

    def send(body):
        response = chat_request(full_key, encoded(body))
        return response.status_code, response.json()

    for body, code, param in MALFORMED:
        status, answer = send(body)
        assert_refused(status, answer, code, param)
        assert spend_in_flight(api_key) == 0, (code, param)

    assert upstream.requests == []
    assert not UsageRecord.objects.exists()
    assert_spends_up_to_its_cap(api_key, send)


def test_it_refuses_each_malformed_body_with_a_400_through_the_asgi_door_and_holds_nothing(
    transactional_db, capped, upstream, settings
):
    settings.NEXEVO_HOT_CACHE_SECONDS = 60
    api_key, full_key = capped

    def send(body):
        answer = call(
            body=encoded(body),
            headers={"authorization": f"Bearer {full_key}", "content-type": "application/json"},
        )
        return answer.status, answer.json()

    for body, code, param in MALFORMED:
        status, answer = send(body)
        assert_refused(status, answer, code, param)
        assert spend_in_flight(api_key) == 0, (code, param)

    assert upstream.requests == []
    assert_spends_up_to_its_cap(api_key, send)


# --- Every way out of an admitted request gives its hold back -------------------------------------------


def rate_limits_counted(api_key) -> tuple[float, float]:
    """What the key's rate limits count right now (requests, tokens), as the next request sees them."""
    grant = asyncio.run(
        ratelimits.admit(api_key, ratelimits.Limits(requests=10_000, tokens=10_000_000), tokens=0)
    )
    asyncio.run(ratelimits.cancel(grant))
    return grant.state.used_requests - 1, grant.state.used_tokens


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [
        ("broken/chat", 502, "upstream_error"),  # the provider's 500
        ("picky/chat", 400, "upstream_rejected"),  # the provider's 400
        ("halting/chat", 502, "upstream_error"),  # half an answer, then closed
    ],
)
def test_it_gives_the_hold_back_when_the_provider_fails(capped, model, status, code):
    api_key, full_key = capped

    response = chat_request(full_key, chat(model))

    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert spend_in_flight(api_key) == 0
    assert_spends_up_to_its_cap(api_key, lambda body: _sent(full_key, body))


def _sent(full_key, body):
    response = chat_request(full_key, body)
    return response.status_code, response.json()


class Exploded(Exception):
    pass


@pytest.mark.parametrize("error", [Exploded("a bug"), RuntimeError("a bug"), asyncio.CancelledError()])
def test_it_gives_the_hold_back_whatever_serving_raises(capped, monkeypatch, error):
    """An exception of any type after admission (raised here by the HTTP client, outside the project,
    as a bug of ours or a cancelled request would be) leaves nothing held on the cap, and the request's
    tokens are given back to its rate limits."""
    api_key, full_key = capped

    async def explode(self, request, **kwargs):
        raise error

    with monkeypatch.context() as patched:
        patched.setattr(httpx.AsyncClient, "send", explode)
        if isinstance(error, Exception):  # answered by the view as the ASGI door answers it
            response = chat_request(full_key, chat())
            assert (response.status_code, response.json()["error"]["code"]) == (500, "internal_error")
        else:  # a cancelled request is not answered
            with pytest.raises(type(error)):
                chat_request(full_key, chat())

    assert spend_in_flight(api_key) == 0
    _requests, tokens = rate_limits_counted(api_key)
    assert tokens < 1  # the 4,000-odd tokens counted up front went back
    assert_spends_up_to_its_cap(api_key, lambda body: _sent(full_key, body))


def test_it_gives_the_hold_back_when_the_asgi_door_answers_500(
    transactional_db, capped, monkeypatch, settings
):
    settings.NEXEVO_HOT_CACHE_SECONDS = 60
    api_key, full_key = capped

    async def explode(self, request, **kwargs):
        raise Exploded("a bug")

    with monkeypatch.context() as patched:
        patched.setattr(httpx.AsyncClient, "send", explode)
        answer = call(
            body=json.dumps(chat()).encode(),
            headers={"authorization": f"Bearer {full_key}", "content-type": "application/json"},
        )

    assert answer.status == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert spend_in_flight(api_key) == 0
    # Ours, not the provider's: nothing counts against the model's health.
    assert not RequestLog.objects.filter(error_code__startswith="upstream_").exists()
