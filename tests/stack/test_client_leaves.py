"""A client that gives up before its answer is not charged: the request is cancelled where it is, the
provider's call included, its hold on the cap is given back, and its request log says
``client_closed``. Against the fake provider's ``slow`` behaviour (it answers after 0.3 s and notes a
caller that hangs up before that), with a client that gives up after 0.1 s.

Through the web server as bin/stack runs it (gateway.asgi in front of Django under uvicorn), with the
usage journal on and off. Not through Django's door for the endpoint (the view, gateway.api.
chat_completions), which cannot see a client leave: Django's test client calls the view in this
process and waits for its response, so there is no connection to close; a WSGI server learns of a
closed connection only when it writes the answer; and Django's ASGI handler, which does cancel a view
whose client sends ``http.disconnect``, cannot reach this one: the project's middleware includes
sync-only classes (whitenoise's, core's), so the view runs in a thread of its own event loop, which
the cancellation does not enter (tried: the request ran to its end and was charged, its answer
dropped). gateway.asgi serves the endpoint wherever uvicorn runs (bin/run, bin/stack)."""

import json
import uuid
from decimal import Decimal

import httpx
import pytest
import redis

from apikeys.models import ApiKey
from billing.models import UsageRecord
from gateway import admission, journal, routing
from gateway.models import RequestLog, RequestStatus
from gateway.services import providers_load
from tests.billing.helpers import credit
from tests.conftest import new_key
from tests.fakes.upstream import SLOW_SECONDS
from tests.gateway.conftest import catalog_for, hello

from .processes import wait_until

MODEL = "slowpoke/chat"  # tests/gateway/conftest.py's provider with the fake's "slow" behaviour
GIVE_UP_SECONDS = 0.1


def body(text: str) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 4000}


@pytest.fixture
def capped(fake_upstream, alice):
    """Alice's key on the fake provider's catalog, funded, with a cap that holds one request's worst
    case and not two: a hold never given back would refuse the next request with a 402."""
    providers_load(catalog_for(fake_upstream))
    routing.reseed(1234)
    api_key, full_key = new_key(alice)
    credit(api_key.organization, "10.00")
    worst = admission.assess(
        api_key=api_key, route=routing.route(api_key=api_key, model=MODEL), body=body("x" * 40)
    ).max_cost
    cap = (worst * 3 / 2).quantize(Decimal("0.01"))  # a cap is in cents
    assert worst <= cap < 2 * worst
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=cap)
    return api_key, full_key


def provider_calls(fake_upstream, text: str) -> list[dict]:
    return [call for call in fake_upstream.calls("slow") if call["body"]["messages"][0]["content"] == text]


def charged(api_key, journaled: redis.Redis) -> set[str]:
    """The generations charged to ``api_key``: written, or waiting in the usage journal."""
    written = set(UsageRecord.objects.filter(api_key=api_key).values_list("pk", flat=True))
    waiting = {json.loads(fields[b"entry"])["generation"] for _id, fields in journaled.xrange(journal.STREAM)}
    return written | waiting


@pytest.mark.parametrize("usage_journal", ["1", "0"], ids=["journal", "written-before-answer"])
def test_a_client_that_gives_up_is_not_charged_and_the_provider_call_is_cancelled(
    stack, fake_upstream, capped, usage_journal
):
    api_key, full_key = capped
    stack.env["NEXEVO_USAGE_JOURNAL"] = usage_journal
    stack.start_web()
    journaled = redis.Redis.from_url(stack.redis.url())
    url, headers = f"{stack.url}/v1/chat/completions", {"Authorization": f"Bearer {full_key}"}
    # A first request loads the web process's snapshots (in a thread, longer than a client that gives
    # up after 0.1 s would wait for): the next one reaches the provider at once.
    warm = httpx.post(url, json=hello("west/chat-a", max_tokens=16), headers=headers, timeout=30)
    assert warm.status_code == 200, warm.text
    first = warm.json()["nexevo"]["generation_id"]
    wait_until(lambda: charged(api_key, journaled) == {first}, timeout=5, interval=0.05, message="a charge")
    left = f"leaves {uuid.uuid4().hex}"

    with pytest.raises(httpx.TimeoutException):
        httpx.post(url, json=body(left), headers=headers, timeout=GIVE_UP_SECONDS)

    # The provider saw its caller hang up before it answered (it answers after SLOW_SECONDS).
    wait_until(lambda: provider_calls(fake_upstream, left), timeout=5, interval=0.05, message="the call")
    wait_until(
        lambda: provider_calls(fake_upstream, left)[0]["disconnected"],
        timeout=SLOW_SECONDS + 2,
        interval=0.05,
        message="the provider call to be cancelled",
    )
    logged = wait_until(
        lambda: RequestLog.objects.filter(api_key=api_key).exclude(pk=first).first(),
        timeout=5,
        interval=0.05,
        message="its request log",
    )
    assert (logged.status, logged.http_status, logged.error_code) == (
        RequestStatus.CLIENT_CLOSED,
        499,
        "client_closed",
    )
    assert (logged.cost_usd, logged.model, logged.attempts) == (0, MODEL, 1)
    assert charged(api_key, journaled) == {first}

    # Its hold was given back: the cap, which holds one worst case and not two, admits the next
    # request, which is charged.
    stayed = f"stays {uuid.uuid4().hex}"
    answer = httpx.post(url, json=body(stayed), headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    generation = answer.json()["nexevo"]["generation_id"]
    assert not provider_calls(fake_upstream, stayed)[0]["disconnected"]
    wait_until(
        lambda: charged(api_key, journaled) == {first, generation},
        timeout=5,
        interval=0.05,
        message="its charge",
    )
    assert RequestLog.objects.filter(api_key=api_key).count() == (1 if usage_journal == "1" else 3)
    journaled.close()
