"""The chat endpoint's snapshots (gateway.snapshots): a change made in this process reaches the very next
request, and the snapshots themselves keep, miss and drop what they should."""

import asyncio

import pytest

from apikeys import tokens
from apikeys.services import key_revoke
from billing.services import account_for
from gateway import snapshots
from gateway.models import Provider
from tests.billing.helpers import credit
from tests.conftest import new_key

from .conftest import chat_request, hello, run_async


@pytest.fixture
def lasting(settings):
    """Snapshots that outlive the test, so that only a clear can make them go."""
    settings.NEXEVO_HOT_CACHE_SECONDS = 60
    snapshots.clear()


# --- Through the endpoint -------------------------------------------------------------------------


def test_a_revoked_key_is_refused_on_the_next_request(funded, alice, upstream, lasting):
    api_key, full_key = funded
    assert chat_request(full_key, hello("west/chat-a")).status_code == 200
    # Recording through billing.services (SQLite) saves the account, which clears every snapshot; a
    # request refused for its body writes nothing, so after it the key is in memory on any database.
    assert chat_request(full_key, {"model": "west/chat-a", "messages": []}).status_code == 400
    assert snapshots.peek(("key", tokens.hash_key(full_key))).pk == api_key.pk  # served from memory next

    key_revoke(api_key=api_key, actor=alice)
    response = chat_request(full_key, hello("west/chat-a"))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert len(upstream.requests) == 1


def test_a_key_revoked_by_another_process_is_refused_on_the_next_request(
    funded, alice, upstream, lasting, settings
):
    """Another process's snapshot of the key outlives this process's clear; the marker the revoking
    process leaves in Redis is what stops it."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis: without it key snapshots are kept only within one process")
    api_key, full_key = funded
    assert chat_request(full_key, hello("west/chat-a")).status_code == 200
    assert chat_request(full_key, {"model": "west/chat-a", "messages": []}).status_code == 400
    name = ("key", tokens.hash_key(full_key))
    stale = snapshots.peek(name)
    assert stale.pk == api_key.pk and stale.revoked_at is None

    key_revoke(api_key=api_key, actor=alice)
    snapshots.put(name, stale)  # what the other process still holds
    response = chat_request(full_key, hello("west/chat-a"))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert len(upstream.requests) == 1


def test_a_credit_is_spendable_on_the_next_request(alice, catalog, lasting):
    api_key, full_key = new_key(alice)
    account_for(api_key.organization)  # at $0.00 (one created while loading would not be kept)
    refused = chat_request(full_key, hello("west/chat-a"))
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_balance"
    assert snapshots.peek(("account", api_key.organization_id)).balance == 0

    credit(api_key.organization, "1.00")  # billing.services.ledger_post
    served = chat_request(full_key, hello("west/chat-a"))

    assert served.status_code == 200
    assert served.json()["nexevo"]["cost_usd"] == "0.000014"
    assert len(catalog.requests) == 1


def test_a_provider_switched_off_is_unavailable_on_the_next_request(funded, upstream, lasting):
    _api_key, full_key = funded
    assert chat_request(full_key, hello("west/chat-a")).status_code == 200
    # As above: a request refused by the router writes nothing but its log, and leaves the catalog
    # in memory on any database.
    assert chat_request(full_key, hello("nobody/nothing")).status_code == 400
    assert "west/chat-a" in snapshots.peek("catalog").serving

    provider = Provider.objects.get(pk="west")
    provider.enabled = False
    provider.save()  # as the admin's form does
    response = chat_request(full_key, hello("west/chat-a"))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"
    assert len(upstream.requests) == 1


# --- The snapshots ----------------------------------------------------------------------------------


class Loader:
    """A loader that counts its calls."""

    def __init__(self, value="loaded"):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def test_inside_memory_only_a_cold_snapshot_is_a_miss_and_a_warm_one_is_read(lasting):
    load = Loader()

    with snapshots.memory_only(), pytest.raises(snapshots.Miss):
        snapshots.get("test-cold", load)
    assert load.calls == 0
    assert snapshots.get("test-warm", load) == "loaded"  # outside memory_only it loads
    with snapshots.memory_only():
        assert snapshots.get("test-warm", load) == "loaded"
    assert load.calls == 1
    with snapshots.memory_only(), pytest.raises(snapshots.Miss):
        snapshots.get("test-cold", load)  # memory_only never loaded it


def test_a_snapshot_older_than_its_seconds_is_loaded_again(lasting, clock):
    load = Loader()
    snapshots.get("test-short", load, seconds=5)
    clock.advance(4.9)
    assert snapshots.peek("test-short") == "loaded"
    clock.advance(0.2)

    with snapshots.memory_only(), pytest.raises(snapshots.Miss):
        snapshots.get("test-short", load)
    assert snapshots.peek("test-short") is None
    assert snapshots.get("test-short", load) == "loaded"
    assert load.calls == 2


def test_no_seconds_keep_nothing(settings):
    settings.NEXEVO_HOT_CACHE_SECONDS = 0
    load = Loader()

    assert snapshots.get("test-off", load) == "loaded"
    assert snapshots.get("test-off", load) == "loaded"

    assert load.calls == 2
    assert snapshots.peek("test-off") is None
    snapshots.put("test-off", "put")
    assert snapshots.peek("test-off") is None


def test_a_clear_drops_every_snapshot(lasting):
    snapshots.put("test-a", "a")
    snapshots.put(("test", "b"), "b")
    assert (snapshots.peek("test-a"), snapshots.peek(("test", "b"))) == ("a", "b")

    snapshots.clear()

    assert (snapshots.peek("test-a"), snapshots.peek(("test", "b"))) == (None, None)


def test_a_value_read_before_a_clear_is_not_kept(lasting):
    generation = snapshots.generation()  # what get() notes before it calls the loader
    snapshots.clear()  # a change lands meanwhile
    snapshots.put("test-stale", "read before the change", generation=generation)
    assert snapshots.peek("test-stale") is None

    snapshots.put("test-stale", "read after it", generation=snapshots.generation())
    assert snapshots.peek("test-stale") == "read after it"


def test_a_change_while_loading_leaves_nothing_behind(lasting):
    def load():
        snapshots.clear()  # e.g. a save in another thread while this one reads the database
        return "read before the change"

    assert snapshots.get("test-racing", load) == "read before the change"
    assert snapshots.peek("test-racing") is None


def test_a_snapshot_read_near_its_end_is_loaded_again_in_the_background(settings, clock):
    """The request goes on with the snapshot kept; the next one reads the one loaded meanwhile."""
    settings.NEXEVO_HOT_CACHE_SECONDS = 4
    snapshots.clear()
    snapshots.put("near-end", "old")
    clock.advance(4 * (1 - snapshots.REFRESH_AHEAD / 2))  # half-way through the last quarter of its life

    async def read_twice():
        with snapshots.memory_only():
            first = snapshots.get("near-end", lambda: "new")
        for _ in range(100):
            await asyncio.sleep(0.01)
            if snapshots.peek("near-end") == "new":
                break
        return first, snapshots.peek("near-end")

    assert run_async(read_twice) == ("old", "new")


def test_a_snapshot_read_early_is_not_loaded_again(settings):
    settings.NEXEVO_HOT_CACHE_SECONDS = 60
    snapshots.clear()
    snapshots.put("early", "old")

    async def read():
        with snapshots.memory_only():
            value = snapshots.get("early", lambda: "new")
        await asyncio.sleep(0.05)
        return value, snapshots.peek("early")

    assert run_async(read) == ("old", "old")
