"""Leases on keys' spend caps (gateway.leases): under the ASGI door's lifespan, a web process holds
requests from a lease kept in memory, the Redis counter counts every lease in full, what is left goes
back once idle, and a key revoked or changed in another process is refused or re-read on the next
request. Driven through nexevo_site.asgi.application on one event loop, as uvicorn runs it."""

import asyncio
import concurrent.futures
import json
import time
from decimal import Decimal
from functools import partial

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.utils import timezone

from apikeys.models import ApiKey
from core.money import from_micros, to_micros
from gateway import api, key_changes, leases, snapshots, spend_counters, tasks
from gateway.spend_counters import counter_key, spend_in_flight
from nexevo_site.asgi import application
from tests.conftest import new_key

from .conftest import chat_request, hello, run_async, worst_case_of
from .test_asgi_door import loop_connections_closed

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="leases need Redis")


class Door:
    """``application`` on the running event loop with its lifespan started, as uvicorn runs it."""

    async def __aenter__(self):
        self.messages: asyncio.Queue = asyncio.Queue()
        self.answers: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.ensure_future(
            application({"type": "lifespan"}, self.messages.get, self.answers.put)
        )
        await self.messages.put({"type": "lifespan.startup"})
        assert (await self.answers.get())["type"] == "lifespan.startup.complete"
        await until(leases.live)
        return self

    async def __aexit__(self, *exc):
        await self.messages.put({"type": "lifespan.shutdown"})
        assert (await self.answers.get())["type"] == "lifespan.shutdown.complete"
        await self.task
        await loop_connections_closed()

    async def post(self, full_key: str, body: dict) -> tuple[int, dict]:
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/chat/completions",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {full_key}".encode())],
        }
        incoming = [{"type": "http.request", "body": json.dumps(body).encode()}]
        sent = []

        async def receive():
            if incoming:
                return incoming.pop(0)
            await asyncio.Event().wait()  # a client that stays

        async def send(message):
            sent.append(message)

        await application(scope, receive, send)
        status = next(message["status"] for message in sent if message["type"] == "http.response.start")
        body = b"".join(
            message.get("body", b"") for message in sent if message["type"] == "http.response.body"
        )
        return status, json.loads(body)


async def until(condition, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{condition.__name__} did not hold in {seconds} s"
        await asyncio.sleep(0.01)


def counter_of(api_key) -> str:
    return counter_key(api_key, spend_counters.month(timezone.now()))


def change_elsewhere(api_key, **fields) -> None:
    """What another process does when it changes a key: the row changes (without this process's
    signals) and it tells the others (a marker and a message)."""
    ApiKey.objects.filter(pk=api_key.pk).update(**fields)
    key_changes.publish([api_key.key_hash])


def counted_on(counter: str) -> int:
    return int(redis_client().get(counter) or 0)


def settled(api_key, seconds: float = 5) -> bool:
    """Whether the counter comes down to the recorded spend (holds settled, leases given back; in
    the background) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while spend_in_flight(api_key) != 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def redis_client():
    return redis.Redis.from_url(settings.REDIS_URL)


def kill_subscription() -> None:
    """Closes this process's key-changes subscription from Redis's side (and no one else's)."""
    [client] = [
        client
        for client in redis_client().client_list()
        if client["name"] == key_changes.connection_name() and client["sub"] != "0"
    ]
    redis_client().client_kill_filter(_id=client["id"])


@pytest.fixture
def capped(transactional_db, funded, settings):
    settings.NEXEVO_HOT_CACHE_SECONDS = 60
    # A key read afresh comes from the database (the shared key cache, and how another process's
    # change reaches it, is apikeys.auth_cache's and tested there).
    settings.NEXEVO_KEY_CACHE_SECONDS = 0
    api_key, full_key = funded
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("5.00"))
    snapshots.clear()
    yield ApiKey.objects.get(pk=api_key.pk), full_key
    redis_client().delete(counter_of(api_key))


def test_requests_are_held_from_the_lease_which_the_counter_counts_in_full(capped):
    api_key, full_key = capped
    counter = counter_of(api_key)

    async def scenario():
        async with Door() as door:
            answers = [await door.post(full_key, hello("west/chat-a"))]
            counted = counted_on(counter)
            answers += [await door.post(full_key, hello("west/chat-a")) for _ in range(4)]
            return answers, counted, counted_on(counter), leases.held().get(counter)

    answers, counted_after_first, counted_after_five, free = run_async(scenario)

    assert [status for status, _body in answers] == [200] * 5
    # The first request's grant; the other four were held from the lease and settled into it: the
    # counter did not move.
    assert counted_after_five == counted_after_first
    assert free is not None and free > 0
    spent = sum(Decimal(body["nexevo"]["cost_usd"]) for _status, body in answers)
    assert ApiKey.objects.get(pk=api_key.pk).month_to_date_spend() == spent
    # Given back at shutdown: the counter holds the spend and nothing else.
    assert counted_on(counter) == to_micros(spent)
    assert settled(api_key)


def test_what_is_left_of_a_lease_goes_back_once_the_key_is_idle(capped, clock):
    api_key, full_key = capped
    counter = counter_of(api_key)

    async def scenario():
        async with Door() as door:
            status, _body = await door.post(full_key, hello("west/chat-a"))
            held_after_request = await sync_to_async(spend_in_flight)(api_key)
            await asyncio.sleep(2 * leases.SWEEP_SECONDS)  # swept twice: not idle long enough yet
            assert counter in leases.held()
            clock.advance(leases.IDLE_SECONDS)
            await until(lambda: counter not in leases.held())
            given_back = await sync_to_async(settled)(api_key)  # while the server still runs
            return status, held_after_request, given_back

    status, held_after_request, given_back = run_async(scenario)

    assert status == 200
    assert held_after_request > 0
    assert given_back


def test_a_key_revoked_in_another_process_is_refused_on_the_next_request(capped, upstream):
    """The other process's revocation reaches this one as a message; the request right after it is
    refused whether or not the event loop has read the message yet."""
    api_key, full_key = capped
    counter = counter_of(api_key)

    async def scenario(wait_for_message: bool):
        async with Door() as door:
            first, _ = await door.post(full_key, hello("west/chat-a"))
            assert counter in leases.held() and snapshots.peek(("key", api_key.key_hash)) is not None
            # What another process does: the row changes (no signal here) and it tells the others.
            await sync_to_async(ApiKey.objects.filter(pk=api_key.pk).update)(revoked_at=timezone.now())
            key_changes.publish([api_key.key_hash])  # the event loop does not run meanwhile
            if wait_for_message:
                await until(lambda: counter not in leases.held())
            else:
                deadline = time.monotonic() + 5
                while await key_changes.caught_up():  # until the message is there, unread (no await yields)
                    assert time.monotonic() < deadline
                    time.sleep(0.001)
            second, body = await door.post(full_key, hello("west/chat-a"))
            return first, second, body

    calls = len(upstream.requests)
    first, second, body = run_async(partial(scenario, wait_for_message=False))
    assert (first, second, body["error"]["code"]) == (200, 401, "invalid_api_key")
    assert len(upstream.requests) == calls + 1

    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=None)
    redis_client().delete(key_changes.marker_key(api_key.key_hash))  # as if a minute had passed
    snapshots.clear()
    first, second, body = run_async(partial(scenario, wait_for_message=True))
    assert (first, second, body["error"]["code"]) == (200, 401, "invalid_api_key")
    assert len(upstream.requests) == calls + 2


def test_a_cap_lowered_in_another_process_takes_the_lease_back(capped):
    api_key, full_key = capped
    counter = counter_of(api_key)

    async def scenario():
        async with Door() as door:
            first, body = await door.post(full_key, hello("west/chat-a"))
            spent = Decimal(body["nexevo"]["cost_usd"])
            await sync_to_async(change_elsewhere)(api_key, monthly_spend_cap_usd=spent)
            await until(lambda: counter not in leases.held())
            await until(lambda: counted_on(counter) == to_micros(spent))  # the lease went back
            second, body = await door.post(full_key, hello("west/chat-a"))
            return first, second, body

    first, second, body = run_async(scenario)

    assert (first, second, body["error"]["code"]) == (200, 402, "spend_cap_exceeded")


def test_while_the_subscription_is_down_each_request_is_held_in_redis(capped, monkeypatch):
    """Nothing would be heard of a key revoked meanwhile: no leases until it is back."""
    api_key, full_key = capped
    monkeypatch.setattr(key_changes, "RECONNECT_SECONDS", 2)
    counter = counter_of(api_key)

    async def scenario():
        async with Door() as door:
            await door.post(full_key, hello("west/chat-a"))
            kill_subscription()
            await until(lambda: not leases.live())
            assert counter not in leases.held()
            statuses, leased = [], []
            for _ in range(3):
                statuses.append((await door.post(full_key, hello("west/chat-a")))[0])
                leased.append(counter in leases.held())
            await until(leases.live)  # subscribed again
            return statuses, leased

    statuses, leased = run_async(scenario)

    assert statuses == [200] * 3
    assert leased == [False] * 3
    assert settled(api_key)


def test_while_the_subscription_is_down_a_key_revoked_elsewhere_is_refused(capped, upstream, monkeypatch):
    """No message can arrive while the subscription is down: each request checks the key's marker
    in Redis, so a key revoked in another process meanwhile is refused at once, capped or not."""
    api_key, full_key = capped
    monkeypatch.setattr(key_changes, "RECONNECT_SECONDS", 60)  # stays down for the test
    uncapped, uncapped_full = new_key(api_key.created_by, name="uncapped")

    async def scenario():
        async with Door() as door:
            before = [
                (await door.post(full_key, hello("west/chat-a")))[0],
                (await door.post(uncapped_full, hello("west/chat-a")))[0],
            ]
            kill_subscription()
            await until(lambda: not leases.live())
            for key in (api_key, uncapped):  # both still in this process's snapshots
                await sync_to_async(change_elsewhere)(key, revoked_at=timezone.now())
            after = [
                await door.post(full_key, hello("west/chat-a")),
                await door.post(uncapped_full, hello("west/chat-a")),
            ]
            return before, after

    calls = len(upstream.requests)
    before, after = run_async(scenario)

    assert before == [200, 200]
    assert [(status, body["error"]["code"]) for status, body in after] == [(401, "invalid_api_key")] * 2
    assert len(upstream.requests) == calls + 2


def test_a_grant_takes_at_most_half_of_what_the_cap_has_left(capped):
    api_key, full_key = capped
    counter = counter_of(api_key)
    worst = to_micros(worst_case_of(api_key, hello("west/chat-a")))
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=from_micros(3 * worst))
    snapshots.clear()

    async def scenario():
        async with Door() as door:
            status, body = await door.post(full_key, hello("west/chat-a"))
            return status, to_micros(Decimal(body["nexevo"]["cost_usd"])), counted_on(counter), leases.held()

    status, cost, counted, held = run_async(scenario)

    # The room left before, about two worst cases besides this one's (the cap is kept in cents);
    # half of it, not the eight worst cases a lease asks for, is granted on top of the request's own.
    cap = to_micros(ApiKey.objects.get(pk=api_key.pk).monthly_spend_cap_usd)
    assert 8 * worst > (cap - worst) // 2
    granted = worst + (cap - worst) // 2
    assert status == 200
    assert counted == granted
    assert held[counter] == granted - cost  # what the request did not spend went to the lease


def test_concurrent_requests_held_from_leases_stay_within_the_cap(capped):
    api_key, full_key = capped
    counter = counter_of(api_key)
    worst = to_micros(worst_case_of(api_key, hello("west/chat-a")))
    cap = from_micros(10 * worst)
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=cap)
    snapshots.clear()

    async def scenario():
        async with Door() as door:
            return await asyncio.gather(*(door.post(full_key, hello("west/chat-a")) for _ in range(40)))

    answers = run_async(scenario)

    served = [body for status, body in answers if status == 200]
    refused = [body for status, body in answers if status != 200]
    assert all(body["error"]["code"] == "spend_cap_exceeded" for body in refused)
    spent = sum(Decimal(body["nexevo"]["cost_usd"]) for body in served)
    assert len(served) >= to_micros(ApiKey.objects.get(pk=api_key.pk).monthly_spend_cap_usd) // worst
    assert spent <= cap
    assert ApiKey.objects.get(pk=api_key.pk).month_to_date_spend() == spent
    assert counted_on(counter) == to_micros(spent)  # every hold and lease settled or given back


def test_a_key_read_before_its_revocation_was_heard_of_is_checked_again(capped, upstream, monkeypatch):
    """The key is read (in Django's thread), then revoked elsewhere, and the message arrives while
    the request is still on its way: the request does not trust what it read. A key without a cap,
    which no lease or Redis hold would otherwise stop."""
    api_key, full_key = capped
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=None)
    read_key = api.key_authenticate_hash
    revoked = []

    def read_then_revoked_elsewhere(key_hash):
        found = read_key(key_hash)
        if not revoked:
            revoked.append(True)
            change_elsewhere(api_key, revoked_at=timezone.now())
            deadline = time.monotonic() + 5
            while key_changes.epoch() == epoch_before[0]:  # until the event loop has handled the message
                assert time.monotonic() < deadline
                time.sleep(0.01)
        return found

    monkeypatch.setattr(api, "key_authenticate_hash", read_then_revoked_elsewhere)
    epoch_before = [None]

    async def scenario():
        async with Door() as door:
            snapshots.clear()  # the key is read afresh, in the thread
            epoch_before[0] = key_changes.epoch()
            return await door.post(full_key, hello("west/chat-a"))

    calls = len(upstream.requests)
    status, body = run_async(scenario)

    assert revoked
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    assert len(upstream.requests) == calls


def test_many_requests_at_once_lease_no_more_than_a_few_worst_cases(capped):
    """Requests that find the lease empty at once do not each add a grant to it: one asks for a
    lease, the others wait for it or hold for themselves, and the lease never holds more than
    LEASE_REQUESTS worst cases besides one request's own."""
    api_key, full_key = capped
    counter = counter_of(api_key)
    worst = to_micros(worst_case_of(api_key, hello("west/chat-a")))
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=from_micros(1000 * worst))
    snapshots.clear()

    async def scenario():
        async with Door() as door:
            peak, done = [0], asyncio.Event()

            async def watch():
                while not done.is_set():
                    peak[0] = max(peak[0], leases.held().get(counter, 0))
                    await asyncio.sleep(0)

            watcher = asyncio.ensure_future(watch())
            answers = await asyncio.gather(*(door.post(full_key, hello("west/chat-a")) for _ in range(64)))
            done.set()
            await watcher
            return answers, peak[0]

    answers, peak = run_async(scenario)

    assert [status for status, _body in answers] == [200] * 64
    assert 0 < peak <= (leases.LEASE_REQUESTS + 1) * worst
    spent = sum(to_micros(Decimal(body["nexevo"]["cost_usd"])) for _status, body in answers)
    assert counted_on(counter) == spent  # every hold and lease given back at shutdown


def redis_now_ms() -> int:
    seconds, micros = redis_client().time()
    return seconds * 1000 + micros // 1000


def left_behind(counter: str, holdings: dict[str, tuple[int, int]]) -> None:
    """What processes left on ``counter``: by holder, (how long ago it last beat in ms, what it holds)."""
    client, now = redis_client(), redis_now_ms()
    for holder, (silent_ms, amount) in holdings.items():
        client.zadd(spend_counters.HOLDERS, {holder: now - silent_ms})
        client.hset(spend_counters.holdings_key(holder), counter, amount)
        client.incrby(counter, amount)


def test_the_beat_job_gives_back_what_a_dead_process_held_and_nothing_of_a_live_one(capped, settings):
    api_key, _full_key = capped
    settings.NEXEVO_HOLDER_TTL_SECONDS = 20
    counter = counter_of(api_key)
    redis_client().set(counter, 0)
    left_behind(counter, {"dead-web": (30_000, 700_000), "live-web": (1_000, 500_000)})

    given_back = tasks.give_back_dead_holdings()

    assert given_back >= 700_000  # (and whatever dead processes of earlier runs left in this database)
    assert counted_on(counter) == 500_000
    assert redis_client().zscore(spend_counters.HOLDERS, "dead-web") is None
    assert redis_client().hgetall(spend_counters.holdings_key("dead-web")) == {}
    assert redis_client().hgetall(spend_counters.holdings_key("live-web")) == {counter.encode(): b"500000"}
    tasks.give_back_dead_holdings()  # run twice: nothing more
    assert counted_on(counter) == 500_000
    redis_client().delete(spend_counters.holdings_key("live-web"))
    redis_client().zrem(spend_counters.HOLDERS, "live-web")


def test_the_beat_job_never_takes_a_counter_below_the_recorded_spend(capped, settings):
    """A dead process's holdings that say more than the counter holds beyond the recorded spend
    (a spend it had not reported when it died) give back only down to the spend."""
    api_key, _full_key = capped
    settings.NEXEVO_HOLDER_TTL_SECONDS = 20
    ApiKey.objects.filter(pk=api_key.pk).update(
        spend_month=timezone.now().date().replace(day=1), spend_month_to_date_usd=Decimal("0.300000")
    )
    counter = counter_of(api_key)
    redis_client().set(counter, 300_000 - 200_000)  # the counter: the spend but 200_000 reported
    left_behind(counter, {"dead-web": (30_000, 400_000)})

    tasks.give_back_dead_holdings()

    assert counted_on(counter) == 300_000


def test_a_refused_request_does_not_keep_the_counter_alive(capped):
    """A counter that over-counts (a dead process's holds) idles out in the end even if the client
    keeps retrying: a refusal does not push its expiry back."""
    api_key, full_key = capped
    counter = counter_of(api_key)
    redis_client().set(counter, to_micros(api_key.monthly_spend_cap_usd), ex=100)

    def refused():
        try:
            return chat_request(full_key, hello("west/chat-a"))
        finally:
            connections.close_all()

    # In a thread of its own: the browser tests leave Playwright's event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(refused).result()

    assert answer.status_code == 402
    assert answer.json()["error"]["code"] == "spend_cap_exceeded"
    assert 0 < redis_client().ttl(counter) <= 100
