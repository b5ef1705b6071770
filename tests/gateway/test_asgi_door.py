"""The ASGI application (nexevo_site.asgi): ``POST /v1/chat/completions`` served by gateway.asgi in
front of Django, everything else by Django. Driven in this process with hand-made ASGI messages."""

import asyncio
import dataclasses
import json
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.models import ApiKey
from billing.models import BillingAccount, LedgerEntry, UsageRecord
from gateway import database, redis_clients
from gateway.models import RequestLog
from gateway.spend_counters import spend_in_flight
from nexevo_site.asgi import application
from tests.stack.processes import wait_until

from .conftest import hello, run_async

PATH = "/v1/chat/completions"


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]  # by lower-case name
    chunks: list[bytes]  # the bodies sent, in order

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def json(self):
        return json.loads(self.body)


def call(
    method="POST",
    path=PATH,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    chunk_size: int | None = None,
    hang_up_after_first_chunk=False,
    on_first_chunk=None,
    hang_up_when=None,
) -> Answer | None:
    """One request through ``application`` on an event loop of its own, as a server would make it.

    The body arrives in pieces of ``chunk_size`` bytes. The client stays until the answer is sent,
    or, with ``hang_up_after_first_chunk``, goes away once the first part of a stream has been sent
    (after awaiting ``on_first_chunk()``), or once its body is sent and ``hang_up_when()`` is true
    (then the answer is None if nothing was sent)."""
    headers = {"host": "testserver", **(headers or {})}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
        "client": ("127.0.0.1", 50123),
        "server": ("testserver", 80),
    }
    size = chunk_size or max(len(body), 1)
    pieces = [body[start : start + size] for start in range(0, len(body), size)] or [b""]
    incoming = [
        {"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1}
        for index, piece in enumerate(pieces)
    ]

    async def run() -> list[dict]:
        sent: list[dict] = []
        gone = asyncio.Event()

        async def receive():
            if incoming:
                return incoming.pop(0)
            if hang_up_when is not None:
                while not (gone.is_set() or hang_up_when()):
                    await asyncio.sleep(0.01)
                gone.set()
            await gone.wait()  # a client that stays: until the application stops listening
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
            first_part = message["type"] == "http.response.body" and message.get("more_body")
            if first_part and hang_up_after_first_chunk and not gone.is_set():
                if on_first_chunk is not None:
                    await on_first_chunk()
                gone.set()

        try:
            await application(scope, receive, send)
        finally:
            await loop_connections_closed()
        return sent

    sent = run_async(run)
    if hang_up_when is not None and not sent:
        return None
    [start] = [message for message in sent if message["type"] == "http.response.start"]
    return Answer(
        status=start["status"],
        headers={name.decode("latin-1").lower(): value.decode("latin-1") for name, value in start["headers"]},
        chunks=[message["body"] for message in sent if message["type"] == "http.response.body"],
    )


async def loop_connections_closed() -> None:
    """Closes what the endpoint opened for this event loop (the recording pool, the Redis client),
    which is about to go."""
    await database.close()
    await redis_clients.close_for_running_loop()


def chat(full_key: str, body: dict, **options) -> Answer:
    return call(
        body=json.dumps(body).encode(),
        headers={"authorization": f"Bearer {full_key}", "content-type": "application/json"},
        **options,
    )


@pytest.fixture
def warm(settings):
    """Snapshots that stay for the whole test, so that recording never has to reload one."""
    settings.NEXEVO_HOT_CACHE_SECONDS = 60


def test_any_other_path_goes_to_django(transactional_db):
    """Django's request cycle runs, as under a server: its request_started signal closes the
    thread's old connections, hence a test database without a transaction around the test."""
    answer = call("GET", "/v1/ping")

    assert answer.status == 200
    assert answer.json() == {"ok": True}
    assert answer.headers["allow"] == "GET, HEAD, OPTIONS"  # Django REST framework's view answered


def test_a_host_not_allowed_is_left_to_django_which_refuses_it():
    """One answer for a bad Host, whichever door: Django's 400 in the API's error envelope."""
    answer = call(body=json.dumps(hello()).encode(), headers={"host": "evil.example.com"})

    assert answer.status == 400
    assert answer.json()["error"] == {
        "type": "invalid_request_error",
        "code": "bad_request",
        "message": "The request could not be understood.",
        "param": None,
    }
    assert answer.headers["content-language"] == "en"  # Django's middleware answered


def test_a_body_over_the_upload_limit_is_a_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    answer = call(body=b"x" * 101, chunk_size=60, headers={"authorization": "Bearer nx_" + "x" * 40})

    assert answer.status == 413
    assert answer.json()["error"]["code"] == "request_too_large"
    assert answer.headers["content-length"] == str(len(answer.body))


def test_no_credentials_is_a_401_with_the_security_headers():
    answer = call(body=json.dumps(hello()).encode())

    assert answer.status == 401
    assert answer.json()["error"] == {
        "type": "authentication_error",
        "code": "invalid_api_key",
        "message": "Send your API key as Authorization: Bearer <key>.",
        "param": None,
    }
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    assert answer.headers["permissions-policy"].startswith("accelerometer=()")
    # What Django's middleware adds to the API's answers, the door adds too (test_door_parity.py).
    assert answer.headers["content-language"] == "en"
    assert answer.headers["vary"] == "Accept-Language, Cookie"
    assert answer.headers["www-authenticate"] == 'Bearer realm="nexevo"'


def test_a_completion_is_served_and_recorded(transactional_db, funded, warm):
    api_key, full_key = funded

    with CaptureQueriesContext(connection) as queries:
        answer = chat(full_key, hello("west/chat-a"))

    assert answer.status == 200
    body = answer.json()
    generation = body["nexevo"]["generation_id"]
    assert answer.headers["x-nexevo-generation-id"] == generation
    assert answer.headers["content-length"] == str(len(answer.body))
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert body["choices"][0]["message"]["content"] == "word0 word1 word2 word3 word4"
    assert body["nexevo"]["cost_usd"] == "0.000014"
    record = UsageRecord.objects.get(pk=generation)
    assert (record.api_key_id, record.prompt_tokens, record.completion_tokens, record.cost_usd) == (
        api_key.pk,
        3,
        5,
        Decimal("0.000014"),
    )
    assert LedgerEntry.objects.get(reference=generation).amount_usd == Decimal("-0.000014")
    assert RequestLog.objects.get(pk=generation).status == "completed"
    # On PostgreSQL the one statement ran on the event loop's own connection, not Django's.
    assert not any(
        query["sql"].lstrip().startswith("WITH organization AS") for query in queries.captured_queries
    )


def test_a_client_that_leaves_before_its_answer_cancels_the_provider_call_and_is_not_charged(
    transactional_db, funded, warm, upstream
):
    """The slow provider answers after 0.3 s; the client leaves as soon as the provider has the call
    (tests/stack/test_client_leaves.py does the same under uvicorn)."""
    api_key, full_key = funded
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("5.00"))
    # A first request loads the snapshots: the next reaches the provider at once.
    first = chat(full_key, hello("west/chat-a")).json()["nexevo"]["generation_id"]
    balance = BillingAccount.objects.get(organization=api_key.organization).balance_usd

    assert chat(full_key, hello("slowpoke/chat"), hang_up_when=lambda: upstream.calls("slow")) is None

    [log] = RequestLog.objects.filter(api_key=api_key).exclude(pk=first)
    assert (log.status, log.http_status, log.error_code, log.cost_usd, log.attempts) == (
        "client_closed",
        499,
        "client_closed",
        0,
        1,
    )
    assert list(UsageRecord.objects.filter(api_key=api_key).values_list("pk", flat=True)) == [first]
    assert BillingAccount.objects.get(organization=api_key.organization).balance_usd == balance
    assert spend_in_flight(api_key) == 0  # the hold given back
    [call] = upstream.calls("slow")
    wait_until(lambda: call["disconnected"], timeout=2.5, interval=0.02, message="the call closed")


def test_a_client_that_hangs_up_mid_stream_is_recorded_and_its_hold_released(transactional_db, funded, warm):
    api_key, full_key = funded
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("5.00"))
    held = []

    async def note_the_hold():
        held.append(await sync_to_async(spend_in_flight)(api_key))

    # The slow provider sends its first chunk at once, then waits 0.3 s before each word.
    answer = chat(
        full_key,
        hello("slowpoke/chat", stream=True),
        hang_up_after_first_chunk=True,
        on_first_chunk=note_the_hold,
    )

    assert answer.status == 200
    assert answer.headers["content-type"] == "text/event-stream"
    assert b'"role": "assistant"' in answer.chunks[0]
    assert b"word0" not in answer.body and b"[DONE]" not in answer.body
    generation = answer.headers["x-nexevo-generation-id"]
    log = RequestLog.objects.get(pk=generation)
    assert (log.status, log.error_code, log.stream, log.http_status) == (
        "incomplete",
        "client_disconnected",
        True,
        200,
    )
    # No content arrived and the provider's count never came: the prompt is estimated at a token per
    # 4 bytes of the messages (51 bytes: 13 tokens, $0.000014 with the markup).
    record = UsageRecord.objects.get(pk=generation)
    assert (record.prompt_tokens, record.completion_tokens, record.cost_usd) == (13, 0, Decimal("0.000014"))
    assert ApiKey.objects.get(pk=api_key.pk).month_to_date_spend() == Decimal("0.000014")
    assert held[0] > 0  # the worst case was held while the stream ran
    assert spend_in_flight(api_key) == 0
