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
import atexit
import collections
import dataclasses
import logging
import os
import socket
import ssl
import threading
import time
import uuid
from urllib.parse import unquote, urlparse

from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL = "nexevo:keys-forgotten"


def channel() -> str:
    """``CHANNEL`` of this Redis database: channels are shared by every database of a Redis server,
    and so would be by two consoles keeping their data in two of them."""
    database = urlparse(settings.REDIS_URL or "").path.strip("/") or "0"
    return f"{CHANNEL}:{database}"


# A grant asks for this many more of the request's own worst case, to admit the next ones from; a
# lease never holds more than this many worst cases besides the request's own, however many requests
# arrive at once (one grant in flight per key: ``grant_begins``).
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
    holder: str  # whose holdings in Redis count it (``holder()``)
    cap: int  # the cap it was granted under, in micro-dollars
    free: int  # granted to this process and not held by a request, in micro-dollars
    limit: int  # the most it keeps: LEASE_REQUESTS + 1 worst cases of the requests it was granted for
    granted_at: float
    used_at: float


_leases: dict[str, Lease] = {}
_granting: dict[str, asyncio.Event] = {}  # counter: set once the grant on its way has landed
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


# --- This process's holdings in Redis -----------------------------------------------------------------
#
# Every hold this process takes on a Redis counter (a lease, or a request's own) is also written in
# its holdings (gateway.admission: ``_RESERVE`` adds to both in one script, ``_SETTLE`` takes off
# both), under a name of its own, its *holder*, with a heartbeat (``NEXEVO_HOLDER_HEARTBEAT_SECONDS``)
# by a thread of its own (``_Keeper``). A holder whose heartbeat is older than
# ``NEXEVO_HOLDER_TTL_SECONDS`` is dead: the beat job (gateway.tasks.give_back_dead_holdings) gives
# its holdings back. What this process gives back (a lease, a hold) is sent at once and, if Redis
# does not answer, again every ``NEXEVO_GIVE_BACK_RETRY_SECONDS`` until it lands, each give-back
# once (by its id); at shutdown for ``NEXEVO_GIVE_BACK_FINAL_SECONDS`` at most.


class _Holder:
    def __init__(self):
        self.pid = os.getpid()
        self.name = f"{socket.gethostname()}:{self.pid}:{uuid.uuid4().hex[:12]}"
        self.registered = False


_holder: _Holder | None = None
_holder_lock = threading.Lock()


def _current() -> _Holder:
    global _holder
    with _holder_lock:
        if _holder is None or _holder.pid != os.getpid():  # a forked child is a holder of its own
            _holder = _Holder()
        return _holder


def holder() -> str:
    """This process's name in Redis's holdings (a new one once the old was taken for dead)."""
    return _current().name


def holder_is_registered() -> bool:
    return _current().registered


def mark_registered(name: str) -> None:
    """``_RESERVE`` registered ``name`` (this process's first hold): the heartbeat keeps it alive."""
    current = _current()
    if current.name == name:
        current.registered = True
        _keeper().wake()


def holder_swept(name: str) -> None:
    """The beat job took holder ``name`` for dead and gave its holdings back (this process did not
    beat in time): later holds are under a new name, and its leases, no longer counted, are held from
    no more (``take`` checks the holder; they go with the next sweep, their give-back a no-op).
    Called from the keeper's thread too: it only swaps the name."""
    global _holder
    with _holder_lock:
        if _holder is not None and _holder.name == name:
            logger.warning("This process's holds were given back as a dead process's; going on as a new one.")
            _holder = _Holder()


@dataclasses.dataclass
class _Settlement:
    counter: str
    holder: str
    release: int
    spend: int
    op: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)


class _Keeper(threading.Thread):
    """This process's heartbeat, and its give-backs that did not land yet, sent again until they do
    (with the blocking client: it runs whatever the event loop is doing)."""

    def __init__(self):
        super().__init__(name="nexevo-holdings", daemon=True)
        self.pending: collections.deque[_Settlement] = collections.deque()
        self.woken = threading.Event()
        self.lock = threading.Lock()  # one sender of ``pending`` at a time
        self.unreachable = False

    def wake(self) -> None:
        self.woken.set()

    def later(self, settlement: _Settlement) -> None:
        self.pending.append(settlement)

    def run(self) -> None:
        next_beat = 0.0
        while True:
            self.woken.wait(settings.NEXEVO_GIVE_BACK_RETRY_SECONDS)
            self.woken.clear()
            now = time.monotonic()
            if now >= next_beat:
                self.heartbeat()
                next_beat = now + settings.NEXEVO_HOLDER_HEARTBEAT_SECONDS
            self.flush()

    def heartbeat(self) -> None:
        from redis.exceptions import RedisError

        from .admission import _HEARTBEAT, HOLDERS, RedisSpendCounter

        current = _current()
        if not current.registered:
            return
        try:
            alive = RedisSpendCounter.client().eval(_HEARTBEAT, 1, HOLDERS, current.name)
        except RedisError as error:
            logger.debug("No heartbeat for this process's holds: %s", error)
            return
        if not alive:
            holder_swept(current.name)

    def flush(self, deadline: float | None = None) -> bool:
        """Sends what is pending, in order, until Redis fails (or ``deadline``); True once none is."""
        from redis.exceptions import RedisError

        from .admission import RedisSpendCounter, settle_holding

        with self.lock:
            while self.pending:
                if deadline is not None and time.monotonic() > deadline:
                    return False
                settlement = self.pending[0]
                try:
                    settle_holding(
                        RedisSpendCounter.client(),
                        settlement.counter,
                        settlement.holder,
                        release=settlement.release,
                        spend=settlement.spend,
                        op=settlement.op,
                        again=True,
                    )
                except RedisError as error:
                    log = logger.debug if self.unreachable else logger.warning
                    log("%d give-backs wait for Redis (%s).", len(self.pending), error)
                    self.unreachable = True
                    return False
                self.pending.popleft()
            if self.unreachable:
                logger.warning("Redis answers again: every give-back that waited for it is made.")
                self.unreachable = False
            return True


_keepers: dict[int, _Keeper] = {}


def _keeper() -> _Keeper:
    keeper = _keepers.get(os.getpid())
    if keeper is None:
        keeper = _keepers[os.getpid()] = _Keeper()
        keeper.start()
        atexit.register(final_give_back)  # a process that stops other than through ``stop()``
    return keeper


def pending_give_backs() -> int:
    """How many give-backs wait for Redis in this process (for tests and the logs)."""
    keeper = _keepers.get(os.getpid())
    return len(keeper.pending) if keeper is not None else 0


async def settle_holding(counter: str, holder_name: str, *, release: int, spend: int, op: str = "") -> None:
    """Takes ``release`` off what ``holder_name`` holds on ``counter`` and puts ``spend`` on it as
    spent (gateway.admission._SETTLE), retried until it lands. Under uvicorn it is sent in the
    background; elsewhere it is awaited once, and retried by the keeper if it fails. ``op`` names it
    (made once however many times it is sent)."""
    settlement = _Settlement(counter, holder_name, release, spend)
    if op:
        settlement.op = op
    if running():
        _state.spawn(_settle(settlement))
    else:
        await _settle(settlement)


def settle_later(counter: str, holder_name: str, *, release: int, spend: int, op: str) -> None:
    """A settlement sent in another call that failed without an answer (it may have been made):
    sent again until it lands, made once by its id ``op``."""
    _keeper().later(_Settlement(counter, holder_name, release, spend, op))
    _keeper().wake()


def _settle_soon(counter: str, holder_name: str, *, release: int, spend: int = 0) -> None:
    """``settle_holding`` from code that cannot await (a lease given back)."""
    settlement = _Settlement(counter, holder_name, release, spend)
    if running():
        _state.spawn(_settle(settlement))
    else:
        _keeper().later(settlement)
        _keeper().wake()


async def _settle(settlement: _Settlement) -> None:
    from redis.exceptions import RedisError

    from .admission import async_client
    from .admission import settle_holding as send

    keeper = _keeper()
    if not keeper.pending:  # else after those, in order
        try:
            await send(
                async_client(),
                settlement.counter,
                settlement.holder,
                release=settlement.release,
                spend=settlement.spend,
                op=settlement.op,
            )
            return
        except RedisError:
            pass
    keeper.later(settlement)  # the same id: made once, even if the call above went through
    keeper.wake()


# --- Holding from a lease ---------------------------------------------------------------------------


def take(counter: str, *, cap: int, amount: int) -> str | None:
    """Holds ``amount`` from this process's lease on ``counter``, if it has that much under ``cap``:
    answers the holder that counts it, or None."""
    lease = _leases.get(counter)
    if lease is None or lease.cap != cap or lease.free < amount or lease.holder != holder():
        return None
    lease.free -= amount
    lease.used_at = time.monotonic()
    return lease.holder


def free(counter: str, *, cap: int) -> int:
    """What this process's lease on ``counter`` has free under ``cap``, or 0 (a refusal's message
    counts it as left of the cap: this process's requests may still hold from it)."""
    lease = _leases.get(counter)
    return lease.free if lease is not None and lease.cap == cap else 0


def take_rest(counter: str, *, cap: int) -> int:
    """Takes what is left of the lease (to count towards a request that needs more), or 0."""
    lease = _leases.get(counter)
    if lease is None or lease.cap != cap or lease.holder != holder():
        return 0
    rest, lease.free = lease.free, 0
    return rest


def grant_begins(counter: str) -> bool:
    """Whether this request is to ask for a lease on ``counter``: yes unless another request of this
    process is asking for one right now. Then ``grant_ends`` once it landed."""
    if counter in _granting:
        return False
    _granting[counter] = asyncio.Event()
    return True


def grant_ends(counter: str) -> None:
    event = _granting.pop(counter, None)
    if event is not None:
        event.set()


async def grant_landed(counter: str) -> bool:
    """Waits for the grant on its way for ``counter``, if any (then True)."""
    event = _granting.get(counter)
    if event is None:
        return False
    await event.wait()
    return True


def lease_wanted(counter: str, *, cap: int, worst: int) -> int:
    """How much a grant asks for beyond the request itself: ``LEASE_REQUESTS`` of its worst case,
    less what the lease has free."""
    return max(LEASE_REQUESTS * worst - free(counter, cap=cap), 0)


def keep(
    counter: str,
    *,
    key_hash: str,
    holder: str,
    cap: int,
    amount: int,
    worst: int,
    read_at: int | None = None,
) -> None:
    """Adds ``amount``, counted on the Redis counter in ``holder``'s holdings and held by no request,
    to the lease on ``counter`` (granted under ``cap`` for requests of ``worst`` case). What cannot
    be kept here (leases are not running, the lease is of another cap or holder, keys were forgotten
    since ``read_at``, an ``epoch()``, or it would hold more than ``LEASE_REQUESTS`` worst cases)
    goes back to the counter."""
    if amount <= 0:
        return
    if read_at is not None and read_at != _epoch:
        _settle_soon(counter, holder, release=amount)
        return
    now = time.monotonic()
    lease = _leases.get(counter)
    if lease is not None and (lease.cap != cap or lease.holder != holder):
        if lease.key_hash == key_hash:  # the cap changed, or the holder: the old lease goes back
            _give_back(_leases.pop(counter))
            lease = None
        else:
            _settle_soon(counter, holder, release=amount)
            return
    if not live():
        _settle_soon(counter, holder, release=amount)
        return
    limit = (LEASE_REQUESTS + 1) * worst
    if lease is None:
        lease = _leases[counter] = Lease(counter, key_hash, holder, cap, 0, limit, now, now)
    lease.limit = max(lease.limit, limit)
    _add(lease, amount)
    lease.used_at = now


def _add(lease: Lease, amount: int) -> None:
    over = max(lease.free + amount - lease.limit, 0)
    lease.free += amount - over
    if over:
        _settle_soon(lease.counter, lease.holder, release=over)


def release(counter: str, *, holder: str, cap: int, amount: int, worst: int) -> None:
    """A request held from a lease (or in Redis, under ``holder``) settled with ``amount`` unspent:
    back to the lease if it is still there under the same cap and holder, up to what a lease keeps,
    else to the counter. A negative ``amount`` (it cost more than its worst case) is nothing here:
    the settlement in Redis puts the whole cost on the counter."""
    if amount <= 0:
        return
    lease = _leases.get(counter)
    if lease is not None and lease.cap == cap and lease.holder == holder and live():
        lease.limit = max(lease.limit, (LEASE_REQUESTS + 1) * worst)
        _add(lease, amount)
        lease.used_at = time.monotonic()
    else:
        _settle_soon(counter, holder, release=amount)


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
    if lease.free > 0:
        _settle_soon(lease.counter, lease.holder, release=lease.free)


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
    """Gives back every lease and stops (the lifespan's shutdown); give-backs that Redis does not
    take are tried for ``NEXEVO_GIVE_BACK_FINAL_SECONDS`` more (after that, the beat job gives them
    back once this process's heartbeat is stale). With nothing left held, the holder goes."""
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
    await asyncio.to_thread(final_give_back)


def final_give_back(seconds: float | None = None) -> bool:
    """What waits for Redis, sent for ``seconds`` at most (``NEXEVO_GIVE_BACK_FINAL_SECONDS``); then,
    if this process holds nothing any more, its holder is removed. True once nothing is left."""
    from redis.exceptions import RedisError

    from .admission import _DEREGISTER, HOLDERS, RedisSpendCounter, holder_ops_key, holdings_key

    seconds = settings.NEXEVO_GIVE_BACK_FINAL_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    keeper = _keepers.get(os.getpid())
    while keeper is not None and not keeper.flush(deadline):
        if time.monotonic() > deadline:
            logger.warning(
                "%d give-backs could not reach Redis before shutdown; the beat job makes them once this "
                "process's heartbeat is stale.",
                len(keeper.pending),
            )
            return False
        time.sleep(min(settings.NEXEVO_GIVE_BACK_RETRY_SECONDS, max(deadline - time.monotonic(), 0)))
    current = _current()
    if current.registered:
        name = current.name
        try:
            keys = (HOLDERS, holdings_key(name), holder_ops_key(name))
            if RedisSpendCounter.client().eval(_DEREGISTER, len(keys), *keys, name):
                current.registered = False
        except RedisError:
            return False
    return True
