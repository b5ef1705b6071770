"""Leases on keys' spend caps, so that a web process admits most requests without a Redis round trip,
and the channel that tells every web process at once of a key revoked or changed.

Without leases every capped request holds its worst case on the key's Redis counter before the
provider is called (gateway.admission), one round trip each. With them, a process that asks for a
hold asks for a little more than it needs (``LEASE_REQUESTS`` more of the same request's worst case,
never more than half of what the cap has left) and keeps the rest here as the key's lease. Later
requests of the key are held from the lease in memory; a request that settles gives back what it
did not spend (one that cost more than its worst case adds the difference to the counter). The
counter in Redis always counts every lease in full, so however the processes
race, the key's spend stays within its cap: a lease only moves where the check happens. Near the
cap the grants shrink to the request itself, as without leases.

A lease goes back to the counter (what is left of it) once unused for ``IDLE_SECONDS``, after
``MAX_SECONDS`` in any case, when its key is revoked or changed, and when the server stops. A
process that dies with a lease leaves it counted until the counter idles out (after an hour in which
the key made no request, else at the month's end), as a hold of a dead process does: it can refuse a
request near the cap, never let one past.

The per-request Redis call also checked that no process had forgotten the key (revoked, changed)
since this one read it (gateway.hot). A process that holds leases learns of that from a Redis
channel instead: ``admission.mark_keys_forgotten`` publishes the key hashes on ``channel()``, and this
module's subscriber drops the key's snapshot and lease as the message arrives. Before admitting from
memory the endpoint asks whether anything has arrived on the subscription that the event loop has not
read yet (``trusted()``, one non-blocking ``recv`` with ``MSG_PEEK``); if so, or while the
subscription is down, it makes the per-request call, which checks the marker as before. So a key
revoked anywhere is refused by every process from the moment the message reaches it; a request
that read its key before a message arrived (``epoch()``) makes the call too. The subscription is
pinged every ``PING_SECONDS``: one that stops answering is made again, and trusted only then.

Leases exist only on an event loop where ``start()`` ran: gateway.asgi's lifespan, that is under
uvicorn with ``REDIS_URL``. Everywhere else (Django's door, the tests' hand-made requests)
admission holds per request as before. The rate limits' leases (gateway.ratelimits) live on the same
loop, and are given back by this module's sweeper and at ``stop()``.
"""

import asyncio
import dataclasses
import logging
import os
import socket
import ssl
import time
from urllib.parse import unquote, urlparse

from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL = "nexevo:keys-forgotten"


def channel() -> str:
    """``CHANNEL`` of this Redis database: channels are shared by every database of a Redis server,
    and so would be by two consoles keeping their data in two of them."""
    database = urlparse(settings.REDIS_URL or "").path.strip("/") or "0"
    return f"{CHANNEL}:{database}"


# A grant asks for this many more of the request's own worst case, to admit the next ones from.
LEASE_REQUESTS = 8
IDLE_SECONDS = 1.0
MAX_SECONDS = 30.0
SWEEP_SECONDS = 0.25
RECONNECT_SECONDS = 1.0
# The subscription is pinged this often, and dropped (then made again) if no answer comes this soon:
# a connection that died without a word would otherwise be trusted forever.
PING_SECONDS = 5.0
PONG_SECONDS = 2.0


@dataclasses.dataclass
class Lease:
    counter: str  # the key's Redis counter for the month (gateway.admission.RedisSpendCounter.key)
    key_hash: str
    cap: int  # the cap it was granted under, in micro-dollars
    free: int  # granted to this process and not held by a request, in micro-dollars
    granted_at: float
    used_at: float


_leases: dict[str, Lease] = {}
_state: "_State | None" = None
_epoch = 0  # moves whenever this process hears of forgotten keys, or may have missed some


def epoch() -> int:
    """Take it before reading a key: ``trusted(since=...)`` then says whether anything was forgotten
    since."""
    return _epoch


def running() -> bool:
    """Leases are kept on this event loop (``start()`` ran on it, and Redis is configured)."""
    if _state is None or not settings.REDIS_URL:
        return False
    try:
        return asyncio.get_running_loop() is _state.loop
    except RuntimeError:
        return False


def live() -> bool:
    """Subscribed to ``CHANNEL`` on this event loop right now."""
    return running() and _state.subscriber is not None and _state.subscriber.subscribed


def trusted(since: int | None = None) -> bool:
    """Subscribed, and nothing has come on the subscription that the event loop has not read: every
    key forgotten before now is forgotten here too. With ``since`` (an ``epoch()``), also nothing
    was forgotten since then: a key read before it is as current as the messages say."""
    if since is not None and since != _epoch:
        return False
    return live() and not _state.subscriber.unread()


# --- Holding from a lease ---------------------------------------------------------------------------


def take(counter: str, *, cap: int, amount: int) -> bool:
    """Holds ``amount`` from this process's lease on ``counter``, if it has that much under ``cap``."""
    lease = _leases.get(counter)
    if lease is None or lease.cap != cap or lease.free < amount:
        return False
    lease.free -= amount
    lease.used_at = time.monotonic()
    return True


def free(counter: str, *, cap: int) -> int:
    """What this process's lease on ``counter`` has free under ``cap``, or 0 (a refusal's message
    counts it as left of the cap: this process's requests may still hold from it)."""
    lease = _leases.get(counter)
    return lease.free if lease is not None and lease.cap == cap else 0


def take_rest(counter: str, *, cap: int) -> int:
    """Takes what is left of the lease (to count towards a request that needs more), or 0."""
    lease = _leases.get(counter)
    if lease is None or lease.cap != cap:
        return 0
    rest, lease.free = lease.free, 0
    return rest


def keep(counter: str, *, key_hash: str, cap: int, amount: int, read_at: int | None = None) -> None:
    """Adds ``amount``, counted on the Redis counter and held by no request, to the lease on ``counter``
    (granted under ``cap``). What cannot be kept here (leases are not running, the lease is of
    another cap, or keys were forgotten since ``read_at``, an ``epoch()``) goes back to the counter."""
    if amount <= 0:
        return
    if read_at is not None and read_at != _epoch:
        _return(counter, amount)
        return
    now = time.monotonic()
    lease = _leases.get(counter)
    if lease is not None and lease.cap != cap:
        if lease.key_hash == key_hash:  # the cap changed: the old lease goes back
            _give_back(_leases.pop(counter))
            lease = None
        else:
            _return(counter, amount)
            return
    if not live():
        _return(counter, amount)
        return
    if lease is None:
        lease = _leases[counter] = Lease(counter, key_hash, cap, 0, now, now)
    lease.free += amount
    lease.used_at = now


def release(counter: str, *, cap: int, amount: int) -> None:
    """A request held from a lease settled with ``amount`` unspent: back to the lease if it is still
    there under the same cap, else to the counter. A negative ``amount`` (the request cost more than
    its worst case, as a provider can make it) is added to the counter."""
    if amount < 0:
        _adjust_soon(counter, -amount)
        return
    if amount == 0:
        return
    lease = _leases.get(counter)
    if lease is not None and lease.cap == cap and live():
        lease.free += amount
        lease.used_at = time.monotonic()
    else:
        _return(counter, amount)


def forget(key_hashes) -> None:
    """Some process revoked or changed these keys: their snapshots and leases go, and a key read
    before now is not trusted (``epoch``)."""
    global _epoch
    from . import hot, ratelimits

    key_hashes = set(key_hashes)
    _epoch += 1
    hot.invalidate([("key", key_hash) for key_hash in key_hashes])
    ratelimits.forget(key_hashes)
    for lease in [lease for lease in _leases.values() if lease.key_hash in key_hashes]:
        _give_back(_leases.pop(lease.counter))


def _give_back(lease: Lease) -> None:
    _return(lease.counter, lease.free)


def _return(counter: str, amount: int) -> None:
    """Takes ``amount`` off the Redis counter, in the background (an answer never waits for it)."""
    if amount > 0:
        _adjust_soon(counter, -amount)


def _adjust_soon(counter: str, amount: int) -> None:
    if _state is None:
        logger.warning("An adjustment of %s micro-dollars on %s was not made.", amount, counter)
        return
    _state.spawn(_adjust(counter, amount))


async def _adjust(counter: str, amount: int) -> None:
    from redis.exceptions import RedisError

    from .admission import _ADJUST, async_client

    try:
        await async_client().eval(_ADJUST, 1, counter, amount)
    except RedisError:
        # A lease given back stays counted: it only over-counts, and goes when the counter idles out.
        logger.warning("Could not adjust the spend counter %s by %s micro-dollars.", counter, amount)


def sweep(now: float | None = None) -> None:
    """Gives back the leases unused for ``IDLE_SECONDS`` or older than ``MAX_SECONDS``, and the rate
    limits' leases likewise (gateway.ratelimits)."""
    from . import ratelimits

    now = time.monotonic() if now is None else now
    ratelimits.sweep(now)
    for lease in list(_leases.values()):
        if now - lease.used_at >= IDLE_SECONDS or now - lease.granted_at >= MAX_SECONDS:
            _give_back(_leases.pop(lease.counter))


def held() -> dict[str, int]:
    """What each lease holds, by counter (for tests and the benchmark)."""
    return {counter: lease.free for counter, lease in _leases.items()}


# --- The subscriber and its lifetime ----------------------------------------------------------------


class _Subscriber(asyncio.Protocol):
    """A Redis connection subscribed to ``CHANNEL``, speaking just enough of Redis's protocol (RESP)
    for that. Messages are handled as the event loop reads them, not in a task of their own."""

    def __init__(self, password: str | None, username: str | None):
        self.password, self.username = password, username
        self.transport = None
        self.peek_socket: socket.socket | None = None
        self.subscribed = False
        self.closed = asyncio.get_running_loop().create_future()
        self.buffer = b""
        self.pinged_at: float | None = None  # a PING not answered yet
        self.last_ping = time.monotonic()

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.peek_socket = socket.socket(fileno=os.dup(sock.fileno()))
            self.peek_socket.setblocking(False)
        commands = []
        if self.password:
            commands.append(_command("AUTH", *filter(None, [self.username, self.password])))
        commands.append(_command("SUBSCRIBE", channel()))
        transport.write(b"".join(commands))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            try:
                reply, self.buffer = _parse(self.buffer)
            except _Incomplete:
                return
            except ValueError:
                logger.warning("An unreadable answer on the keys-forgotten subscription; reconnecting.")
                self.transport.close()
                return
            self.handle(reply)

    def handle(self, reply) -> None:
        if isinstance(reply, Exception):
            logger.warning("Redis refused the keys-forgotten subscription: %s", reply)
            self.transport.close()
        elif isinstance(reply, list) and len(reply) == 3 and reply[0] == b"subscribe":
            from . import hot

            hot.clear()  # read before this subscription: a key forgotten meanwhile was not heard of
            self.subscribed = True
        elif isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
            forget(reply[2].decode("ascii", "replace").split())
        elif isinstance(reply, list) and reply and reply[0] == b"pong":
            self.pinged_at = None

    def keepalive(self, now: float) -> None:
        """Pings every ``PING_SECONDS``; closes the connection if a ping is not answered in time."""
        if not self.subscribed or self.transport is None:
            return
        if self.pinged_at is not None:
            if now - self.pinged_at > PONG_SECONDS:
                logger.warning("The keys-forgotten subscription did not answer a ping; reconnecting.")
                self.transport.close()
        elif now - self.last_ping >= PING_SECONDS:
            self.transport.write(_command("PING"))
            self.pinged_at = self.last_ping = now

    def unread(self) -> bool:
        """Bytes are waiting that are not handled yet: on the socket, unread by the event loop, or read
        and part of a message not all in yet (or it cannot say)."""
        if self.peek_socket is None or self.buffer:
            return True
        try:
            self.peek_socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)  # data, or b"" once closed
            return True
        except BlockingIOError:
            return False
        except OSError:
            return True

    def connection_lost(self, exc) -> None:
        global _epoch
        _epoch += 1  # what was published while unsubscribed was not heard here
        self.subscribed = False
        if self.peek_socket is not None:
            self.peek_socket.close()
        if not self.closed.done():
            self.closed.set_result(None)


class _Incomplete(Exception):
    pass


def _command(*arguments) -> bytes:
    parts = [b"*%d\r\n" % len(arguments)]
    for argument in arguments:
        data = argument if isinstance(argument, bytes) else str(argument).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _parse(buffer: bytes):
    """One RESP reply from the start of ``buffer`` and the rest; ``_Incomplete`` if it is not all in."""
    end = buffer.find(b"\r\n")
    if end < 0:
        raise _Incomplete
    kind, line, rest = buffer[:1], buffer[1:end], buffer[end + 2 :]
    if kind == b"+":
        return line, rest
    if kind == b"-":
        return RuntimeError(line.decode("utf-8", "replace")), rest
    if kind == b":":
        return int(line), rest
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, rest
        if len(rest) < size + 2:
            raise _Incomplete
        return rest[:size], rest[size + 2 :]
    if kind == b"*":
        items = []
        for _ in range(int(line)):
            item, rest = _parse(rest)
            items.append(item)
        return items, rest
    raise ValueError(f"unknown reply type {kind!r}")


class _State:
    def __init__(self, url: str):
        self.loop = asyncio.get_running_loop()
        self.url = url
        self.subscriber: _Subscriber | None = None
        self.tasks: set[asyncio.Task] = set()  # leases being given back
        self.forever: list[asyncio.Task] = []
        self.stopping = False
        self.unreachable = False

    def spawn(self, coroutine) -> None:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def subscribe_forever(self) -> None:
        parts = urlparse(self.url)
        context = ssl.create_default_context() if parts.scheme == "rediss" else None
        while not self.stopping:
            subscriber = None
            try:
                _transport, subscriber = await self.loop.create_connection(
                    lambda: _Subscriber(
                        unquote(parts.password) if parts.password else None,
                        unquote(parts.username) if parts.username else None,
                    ),
                    parts.hostname or "localhost",
                    parts.port or 6379,
                    ssl=context,
                )
                self.subscriber, self.unreachable = subscriber, False
                await subscriber.closed
            except OSError as error:
                # Once per outage: a Redis that stays down is retried every RECONNECT_SECONDS.
                log = logger.debug if self.unreachable else logger.warning
                log("Could not subscribe to forgotten keys (%s); leases are off meanwhile.", error)
                self.unreachable = True
            finally:
                self.subscriber = None
                if subscriber is not None and subscriber.transport is not None:
                    subscriber.transport.close()
                for lease in list(_leases.values()):  # nothing is heard of while unsubscribed
                    _give_back(_leases.pop(lease.counter))
            if not self.stopping:
                await asyncio.sleep(RECONNECT_SECONDS)

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            sweep()
            if self.subscriber is not None:
                self.subscriber.keepalive(time.monotonic())


async def start() -> None:
    """Starts leasing on the running event loop (gateway.asgi's lifespan): subscribes to ``CHANNEL``
    and gives back idle leases. Does nothing without a ``redis://`` or ``rediss://`` ``REDIS_URL``."""
    global _state
    url = settings.REDIS_URL or ""
    if urlparse(url).scheme not in ("redis", "rediss") or _state is not None:
        return
    _state = _State(url)
    _state.forever = [
        _state.loop.create_task(_state.subscribe_forever()),
        _state.loop.create_task(_state.sweep_forever()),
    ]


async def stop() -> None:
    """Gives back every lease and stops (the lifespan's shutdown)."""
    global _state
    state = _state
    if state is None:
        return
    state.stopping = True
    for task in state.forever:
        task.cancel()
    await asyncio.gather(*state.forever, return_exceptions=True)
    for lease in list(_leases.values()):
        _give_back(_leases.pop(lease.counter))
    from . import ratelimits

    ratelimits.give_back_all()
    await asyncio.gather(*state.tasks, return_exceptions=True)
    _state = None
