"""A key revoked or changed: every web process stops serving it from memory at once.

``keys_changed`` (connected in gateway.apps) drops the keys here and ``publish``es a marker per key
and a message; every uvicorn process's subscription (``start``) drops them there and moves
``epoch()``; ``caught_up(since=epoch)`` says whether a request may be admitted from memory. The
chain and its guarantees: gateway/ARCHITECTURE.md, "Key changes".
"""

import asyncio
import contextlib
import logging
import os
import select
import uuid
from urllib.parse import urlparse

import redis.asyncio
from django.conf import settings
from django.db import transaction
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from . import leases, ratelimits, redis_clients, snapshots

logger = logging.getLogger(__name__)

CHANNEL = "nexevo:keys-forgotten"
_MARKER = "nexevo:key-forgotten:"
RECONNECT_SECONDS = 1.0
# The subscription is pinged this often, and dropped (then made again) if no answer comes this soon.
PING_SECONDS = 5.0
PONG_SECONDS = 2.0

_epoch = 0  # moves whenever this process hears of changed keys, or may have missed some
_subscription: "_Subscription | None" = None
_connection_name = f"nexevo-key-changes-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def channel() -> str:
    """``CHANNEL`` of this Redis database: channels are shared by every database of a Redis server,
    and so would be by two consoles keeping their data in two of them."""
    database = urlparse(settings.REDIS_URL or "").path.strip("/") or "0"
    return f"{CHANNEL}:{database}"


def marker_key(key_hash: str) -> str:
    """The Redis key that says ``key_hash`` changed in the last moments."""
    return _MARKER + key_hash


def connection_name() -> str:
    """The name this process's subscription gives its connection (Redis's ``CLIENT LIST``)."""
    return _connection_name


# --- Where a key changes ------------------------------------------------------------------------------


def keys_changed(sender=None, *, key_hashes, **kwargs) -> None:
    """The receiver of ``apikeys.auth_cache.keys_changed``: the keys' snapshots go here, and every
    process is told, now and once the transaction commits (a snapshot read in between, from the row
    as it was before the commit, must not outlive it)."""
    key_hashes = list(key_hashes)
    if not key_hashes:
        return

    def drop_and_publish() -> None:
        snapshots.invalidate([("key", key_hash) for key_hash in key_hashes])
        publish(key_hashes)

    drop_and_publish()
    transaction.on_commit(drop_and_publish)


def publish(key_hashes) -> None:
    """Tells every process that these keys changed: a marker per key, and the message."""
    key_hashes = list(key_hashes)
    if not settings.REDIS_URL or not key_hashes:
        return
    seconds = settings.NEXEVO_HOT_CACHE_SECONDS + 1
    try:
        with redis_clients.blocking().pipeline(transaction=False) as pipe:
            for key_hash in key_hashes:
                pipe.set(marker_key(key_hash), 1, ex=seconds)
            pipe.publish(channel(), " ".join(key_hashes))
            pipe.execute()
    except RedisError:
        logger.warning("Could not tell the other processes of %d changed keys.", len(key_hashes))


async def changed_recently(key_hash: str) -> bool:
    """Whether the key's marker is there (Redis unavailable counts as yes: the key is read again)."""
    try:
        return bool(await redis_clients.for_running_loop().exists(marker_key(key_hash)))
    except RedisError:
        return True


# --- What a process has heard ----------------------------------------------------------------------


def epoch() -> int:
    """Take it before reading a key: ``caught_up(since=...)`` then says whether a key changed since."""
    return _epoch


def live() -> bool:
    """Subscribed on the running event loop right now."""
    subscription = _subscription
    if subscription is None or not subscription.subscribed:
        return False
    try:
        return asyncio.get_running_loop() is subscription.loop
    except RuntimeError:
        return False


async def caught_up(since: int | None = None) -> bool:
    """Subscribed, and nothing has come on the subscription that the event loop has not handled:
    every key changed before now is dropped here too. With ``since`` (an ``epoch()``), also no key
    changed since then: a key read after it is as current as the messages say."""
    if since is not None and since != _epoch:
        return False
    return live() and not await _subscription.unread()


def _drop_here(key_hashes: list[str]) -> None:
    global _epoch
    _epoch += 1
    snapshots.invalidate([("key", key_hash) for key_hash in key_hashes])
    leases.give_back_leases_of(key_hashes)
    ratelimits.forget(key_hashes)


# --- The subscription --------------------------------------------------------------------------------


class _Subscription:
    """``channel()`` on redis-py's asyncio pub/sub, on a connection of its own, made again whenever it
    fails. Messages are handled by one task as they are read."""

    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.task: asyncio.Task | None = None
        self.connection = None  # redis.asyncio.Connection, while subscribed
        self.poller: select.poll | None = None  # on that connection's socket
        self.subscribed = False
        self.pong: asyncio.Event | None = None
        self.unreachable = False

    async def unread(self) -> bool:
        """Whether bytes are waiting that are not handled yet (or it cannot say): on the socket,
        unread by the event loop; read into redis-py's buffer and not parsed; or part of a message
        parsed while the rest is not in yet. A poll and a look at buffers: it never reads."""
        connection, poller = self.connection, self.poller
        if connection is None or poller is None or poller.poll(0):
            return True
        try:
            if await connection.can_read():  # raises once the server closed the connection
                return True
        except (RedisError, OSError):
            return True
        # redis-py's parser keeps the lines of a reply it has read while it waits for the rest.
        return bool(getattr(connection._parser, "_chunks", None))

    async def run_forever(self) -> None:
        while True:
            try:
                await self._run()
            except (RedisError, OSError) as error:
                # Once per outage: a Redis that stays down is retried every RECONNECT_SECONDS.
                log = logger.debug if self.unreachable else logger.warning
                log("Not subscribed to key changes (%s); leases are off meanwhile.", error)
                self.unreachable = True
            finally:
                self._lost()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _run(self) -> None:
        """One connection's life: subscribes, then handles messages until the connection fails or
        stops answering pings."""
        client = redis.asyncio.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            health_check_interval=0,  # pinged here, not on redis-py's schedule
            retry=Retry(NoBackoff(), 0),
            client_name=_connection_name,
        )
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel())
            self.connection = pubsub.connection
            self.poller = select.poll()
            # The connection's own socket, polled for what the event loop has not read yet.
            self.poller.register(self.connection._writer.transport.get_extra_info("socket"), select.POLLIN)
            reading = self.loop.create_task(self._read(pubsub))
            pinging = self.loop.create_task(self._ping(pubsub))
            try:
                await asyncio.wait({reading, pinging}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (reading, pinging):
                    task.cancel()
                await asyncio.gather(reading, pinging, return_exceptions=True)
            if reading.done() and not reading.cancelled() and reading.exception() is not None:
                raise reading.exception()
        finally:
            self._lost()
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    async def _read(self, pubsub) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is not None:
                self._handle(message)

    def _handle(self, message: dict) -> None:
        global _epoch
        kind = message["type"]
        if kind == "message":
            _drop_here(message["data"].decode("ascii", "replace").split())
        elif kind == "subscribe":
            snapshots.clear()  # read before this subscription: a key changed meanwhile was not heard of
            _epoch += 1
            self.subscribed, self.unreachable = True, False
        elif kind == "pong" and self.pong is not None:
            self.pong.set()

    async def _ping(self, pubsub) -> None:
        """Returns once a ping goes unanswered for ``PONG_SECONDS``."""
        while True:
            await asyncio.sleep(PING_SECONDS)
            self.pong = asyncio.Event()
            await pubsub.ping()
            try:
                await asyncio.wait_for(self.pong.wait(), PONG_SECONDS)
            except TimeoutError:
                logger.warning("The key-changes subscription did not answer a ping; subscribing again.")
                return

    def _lost(self) -> None:
        """Nothing is heard of while unsubscribed: keys read from now on are not caught up with, and the
        leases on caps go back (gateway.leases keeps none until the subscription is back)."""
        global _epoch
        if self.connection is None and not self.subscribed:
            return
        _epoch += 1
        self.subscribed, self.connection, self.poller = False, None, None
        leases.give_back_all()


async def start() -> None:
    """Subscribes on the running event loop (gateway.leases.start). Does nothing without a
    ``redis://`` or ``rediss://`` ``REDIS_URL``."""
    global _subscription
    if _subscription is not None or urlparse(settings.REDIS_URL or "").scheme not in ("redis", "rediss"):
        return
    _subscription = _Subscription()
    _subscription.task = _subscription.loop.create_task(_subscription.run_forever())


async def stop() -> None:
    global _subscription
    subscription, _subscription = _subscription, None
    if subscription is None:
        return
    subscription.task.cancel()
    await asyncio.gather(subscription.task, return_exceptions=True)
