import json
import time
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from gateway import admission, routing
from gateway import clock as gateway_clock
from gateway.services import providers_load
from tests.billing.helpers import credit
from tests.conftest import new_key
from tests.fakes.upstream import FakeUpstream  # noqa: F401 - catalog_for takes one

PRICE = {"input_per_million_usd": "1.00", "output_per_million_usd": "2.00"}


@pytest.fixture
def upstream(fake_upstream):
    fake_upstream.requests.clear()
    return fake_upstream


def catalog_for(upstream: FakeUpstream) -> dict:
    """Providers on the fake upstream, one per behaviour, and pools over the healthy ones."""
    providers = [
        ("west", "overseas", "ok"),
        ("east", "cn", "ok"),
        ("broken", "overseas", "fail"),
        ("sleepy", "overseas", "hang"),
        ("halting", "overseas", "early"),
        ("picky", "overseas", "reject"),
        ("filler", "overseas", "fill"),
        ("slowpoke", "overseas", "slow"),
    ]
    return {
        "providers": [
            {"id": name, "base_url": upstream.url(behaviour), "region": region, "api_key": f"sk-{name}"}
            for name, region, behaviour in providers
        ],
        "models": [
            {"id": "west/chat-a", "provider": "west", "upstream_name": "chat-a", **PRICE},
            {"id": "west/chat-b", "provider": "west", "upstream_name": "chat-b", **PRICE},
            {"id": "east/chat-c", "provider": "east", "upstream_name": "chat-c", **PRICE},
            *[
                {"id": f"{name}/chat", "provider": name, "upstream_name": f"{name}-chat", **PRICE}
                for name, _region, _behaviour in providers[2:]
            ],
        ],
        "pools": {
            "fast": ["west/chat-a", "east/chat-c"],
            "balanced": ["west/chat-a", "west/chat-b", "east/chat-c"],
        },
    }


@pytest.fixture
def catalog(upstream, db):
    providers_load(catalog_for(upstream))
    routing.reseed(1234)
    return upstream


@pytest.fixture
def funded(alice, catalog):
    """Alice's key, in an organization holding $10.00."""
    api_key, full_key = new_key(alice)
    credit(api_key.organization, "10.00")
    return api_key, full_key


def chat_request(full_key: str, body, **extra):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return Client().post(
        "/v1/chat/completions",
        data=raw,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {full_key}",
        **extra,
    )


def worst_case_of(api_key, body: dict) -> Decimal:
    """What admission holds for ``body`` before the provider is called (its worst case), as
    gateway.admission prices it."""
    route = routing.route(api_key=api_key, model=body["model"])
    return admission.assess(api_key=api_key, route=route, body=body).max_cost


def hello(model="nexevo/balanced", **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "Hello there friend"}], **extra}


def stream_request(full_key: str, body) -> tuple:
    """A streamed request through Django's async client, its body read in the same event loop:
    (response, the ``data:`` payloads parsed, with ``[DONE]`` kept as the string)."""

    async def send():
        response = await AsyncClient().post(
            "/v1/chat/completions",
            data=json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {full_key}"},
        )
        if not response.streaming:
            return response, None
        return response, b"".join([chunk async for chunk in response.streaming_content])

    response, raw = async_to_sync(send)()
    return response, (None if raw is None else sse_events(raw))


def sse_events(raw: bytes) -> list:
    events = []
    for block in raw.decode().split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: ") :]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


@pytest.fixture
def asgi_server(transactional_db, settings):
    """The console's ASGI app under uvicorn on loopback, as `bin/run` serves it, sharing the test
    database. PostgreSQL only: the in-memory SQLite test database cannot be shared with its threads."""
    import socket
    import threading

    import uvicorn
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the server's threads open their own connections")
    from nexevo_site.asgi import application

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The lifespan's shutdown closes the recording connections, so the test database can be dropped.
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def run_async(function):
    """Runs the coroutine function ``function`` to completion in a thread of its own, where no event
    loop runs (the browser tests leave Playwright's running in the main thread), and closes that
    thread's database connections afterwards so that the test database can be dropped. For tests on
    ``transactional_db``: the thread has its own connection."""
    import concurrent.futures

    from django.db import connections

    def in_thread():
        try:
            return async_to_sync(function)()
        finally:
            connections.close_all()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(in_thread).result()


@pytest.fixture(autouse=True)
def _rate_limits_forgotten():
    """Each test starts with no rate limits counted in this process (gateway.ratelimits); what Redis
    counts goes with the cache, which every test starts without."""
    from gateway import ratelimits

    ratelimits.reset()
    yield
    ratelimits.reset()


class Clock:
    """The gateway's clock (gateway.clock) under a test's hand: it runs as the real one does, and
    ``advance(seconds)`` moves it forward at once, for every thread and event loop of the process."""

    def __init__(self):
        self.offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch):
    """Time for snapshots, leases and rate limits, moved forward by the test instead of slept."""
    fake = Clock()
    monkeypatch.setattr(gateway_clock, "now", fake.now)
    return fake
