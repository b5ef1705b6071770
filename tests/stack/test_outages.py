"""PostgreSQL or Redis unreachable under the stack's web server (uvicorn, usage journal on, as
bin/stack runs it): requests that need what is down answer 503 with Retry-After at once, /healthz
names what is down, and both come back by themselves once it returns, with nothing restarted.

The web server reaches PostgreSQL and the test's own Redis server through relays (tests/stack/relay.py)
that the tests cut: "refuse" is a server gone (connections reset, new ones refused), "blackhole" a
network that silently drops everything. The promise is "about a second"
(``DATABASE_WAIT_SECONDS``, ``REDIS_SOCKET_TIMEOUT_SECONDS``); the tests allow 2.5 seconds, a margin
for a busy 2-core machine.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
from django.db import connection

from apikeys.models import ApiKey
from gateway import routing
from gateway.services import providers_load
from orgs.selectors import personal_organization_of_user
from tests.billing.helpers import credit
from tests.conftest import new_key
from tests.gateway.conftest import catalog_for

from .processes import wait_until
from .relay import Relay

BOUND_SECONDS = 2.5


@pytest.fixture
def cut_stack(stack, fake_upstream):
    """The stack's web server behind a relay to PostgreSQL and one to Redis: (stack, pg, redis)."""
    providers_load(catalog_for(fake_upstream))
    routing.reseed(1234)
    database = connection.settings_dict
    postgresql = Relay(int(database["PORT"] or 5432), target_host=database["HOST"] or "127.0.0.1").start()
    redis = Relay(stack.redis.port).start()
    stack.env.update(
        DATABASE_URL=(
            f"postgres://{database['USER']}:{database['PASSWORD']}@127.0.0.1:{postgresql.port}"
            f"/{database['NAME']}"
        ),
        REDIS_URL=f"redis://127.0.0.1:{redis.port}/0",
        NEXEVO_USAGE_JOURNAL="1",
        # Tasks in-process, so /healthz needs no worker to be 200: what it reports here is the database
        # and Redis.
        CELERY_TASK_ALWAYS_EAGER="1",
    )
    stack.start_web()
    yield stack, postgresql, redis
    postgresql.restore()
    redis.restore()
    stack.stop()
    postgresql.stop()
    redis.stop()


def chat(stack, full_key: str) -> httpx.Response:
    return httpx.post(
        f"{stack.url}/v1/chat/completions",
        json={"model": "nexevo/balanced", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16},
        headers={"Authorization": f"Bearer {full_key}"},
        timeout=30,
    )


def health(stack) -> httpx.Response:
    return httpx.get(f"{stack.url}/healthz", timeout=30)


def timed(*calls):
    """Runs the calls at once; their (response, seconds), in order."""

    def run(call):
        started = time.monotonic()
        response = call()
        return response, time.monotonic() - started

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def assert_unavailable(response: httpx.Response, seconds: float) -> None:
    assert response.status_code == 503, response.text
    assert seconds < BOUND_SECONDS, f"answered after {seconds:.2f}s"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0


def new_funded_key(alice, *, cap: str | None = None) -> str:
    api_key, full_key = new_key(alice)
    if cap is not None:
        ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal(cap))
    return full_key


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_without_postgresql_what_needs_it_answers_503_at_once_and_recovers(cut_stack, alice, mode):
    stack, postgresql, _redis = cut_stack
    credit(personal_organization_of_user(user=alice), "10.00")
    served = new_funded_key(alice)
    cold = [new_funded_key(alice) for _ in range(3)]  # never seen by the web server: they need the database
    assert chat(stack, served).status_code == 200
    wait_until(lambda: health(stack).status_code == 200, timeout=20, message="/healthz to be 200")

    postgresql.cut(mode)

    *chats, (report, report_seconds) = timed(
        *[lambda key=key: chat(stack, key) for key in cold], lambda: health(stack)
    )
    for response, seconds in chats:
        assert_unavailable(response, seconds)
    assert report.status_code == 503 and report_seconds < BOUND_SECONDS, (report_seconds, report.text)
    assert report.json()["database"] == "down" and report.json()["redis"] == "ok"
    if mode == "refuse":
        # Django's side (the REST API) waits for a connection from its pool as long, then answers 503.
        # (A silent network can hold a page on a connection the pool checks: see the README.)
        (listed, listed_seconds), (page, page_seconds) = timed(
            lambda: httpx.get(
                f"{stack.url}/v1/keys", headers={"Authorization": f"Bearer {served}"}, timeout=30
            ),
            # A session to look up: the page needs the database.
            lambda: httpx.get(f"{stack.url}/keys/", cookies={"sessionid": "x" * 32}, timeout=30),
        )
        assert_unavailable(listed, listed_seconds)
        assert page.status_code == 503 and page_seconds < BOUND_SECONDS, (page_seconds, page.text)
        assert "Back in a moment" in page.text and page.headers["Retry-After"]

    postgresql.restore()

    wait_until(lambda: chat(stack, cold[0]).status_code == 200, timeout=20, message="chat to recover")
    assert all(chat(stack, key).status_code == 200 for key in [served, *cold[1:]])
    assert health(stack).status_code == 200


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_without_redis_capped_keys_answer_503_at_once_others_are_served_and_all_recover(
    cut_stack, alice, mode
):
    stack, _postgresql, redis = cut_stack
    credit(personal_organization_of_user(user=alice), "10.00")
    capped, uncapped = new_funded_key(alice, cap="5.00"), new_funded_key(alice)
    assert chat(stack, uncapped).status_code == 200
    wait_until(lambda: health(stack).status_code == 200, timeout=20, message="/healthz to be 200")

    redis.cut(mode)

    (refused, refused_seconds), (served, served_seconds), (report, report_seconds) = timed(
        lambda: chat(stack, capped), lambda: chat(stack, uncapped), lambda: health(stack)
    )
    # A cap cannot be checked without Redis; a key without one is served, its usage written to the
    # database before its answer instead of through the journal.
    assert_unavailable(refused, refused_seconds)
    assert served.status_code == 200 and served_seconds < BOUND_SECONDS, (served_seconds, served.text)
    assert report.status_code == 503 and report_seconds < BOUND_SECONDS, (report_seconds, report.text)
    assert report.json()["redis"] == "down" and report.json()["database"] == "ok"

    redis.restore()

    wait_until(lambda: chat(stack, capped).status_code == 200, timeout=20, message="capped keys to recover")
    wait_until(lambda: health(stack).status_code == 200, timeout=20, message="/healthz to recover")
