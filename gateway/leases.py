"""Leases on keys' spend caps, so that a web process admits most requests without a Redis round trip,
and this process's holdings on the counters (what it holds, its heartbeat, give-backs until they land).

A grant holds a few more worst cases than the request needs; the counter in Redis counts every lease
in full, so a lease only moves where the cap is checked. How leases are sized, when they go back,
and what a dead process leaves: gateway/ARCHITECTURE.md, "Spend counters and leases".
"""

import asyncio
import atexit
import collections
import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from urllib.parse import urlparse

from django.conf import settings
from redis.exceptions import RedisError

from . import clock, key_changes, redis_clients, spend_counters

logger = logging.getLogger(__name__)

# A grant asks for this many more of the request's own worst case, to admit the next ones from; a
# lease never holds more than this many worst cases besides the request's own, however many requests
# arrive at once (one grant in flight per key: ``grant_begins``).
LEASE_REQUESTS = 8
IDLE_SECONDS = 1.0
MAX_SECONDS = 30.0
SWEEP_SECONDS = 0.25


@dataclasses.dataclass
class Lease:
    counter: str  # the key's Redis counter for the month (gateway.spend_counters.counter_key)
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


def running() -> bool:
    """Leases are kept on this event loop (``start()`` ran on it, and Redis is configured)."""
    if _state is None or not settings.REDIS_URL:
        return False
    try:
        return asyncio.get_running_loop() is _state.loop
    except RuntimeError:
        return False


def live() -> bool:
    """Leases are kept now: they run on this loop and the key-changes subscription is up."""
    return running() and key_changes.live()


def spawn(coroutine) -> None:
    """Runs ``coroutine`` on the leases' event loop without waiting for it (a give-back); closes it
    unused when leases are not running."""
    if _state is None:
        coroutine.close()
        return
    _state.spawn(coroutine)


# --- This process's holdings in Redis -----------------------------------------------------------------
#
# Every hold this process takes on a Redis counter (a lease, or a request's own) is also written in
# its holdings (gateway.spend_counters: ``_RESERVE`` adds to both in one script, ``_SETTLE`` takes off
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
            now = clock.now()
            try:
                if now >= next_beat:
                    self.heartbeat()
                    next_beat = now + settings.NEXEVO_HOLDER_HEARTBEAT_SECONDS
                self.flush()
            except Exception:  # the keeper outlives any one failure: a dead keeper loses give-backs
                logger.exception("The holdings' keeper failed a round; it tries again.")

    def heartbeat(self) -> None:
        current = _current()
        if not current.registered or not settings.REDIS_URL:
            return
        try:
            alive = spend_counters.heartbeat(current.name)
        except RedisError as error:
            logger.debug("No heartbeat for this process's holds: %s", error)
            return
        if not alive:
            holder_swept(current.name)

    def flush(self, deadline: float | None = None) -> bool:
        """Sends what is pending, in order, until Redis fails (or ``deadline``); True once none is."""
        with self.lock:
            while self.pending:
                if deadline is not None and clock.now() > deadline:
                    return False
                settlement = self.pending[0]
                try:
                    spend_counters.settle_holding(
                        redis_clients.blocking(),
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
    spent (gateway.spend_counters.settle_holding), retried until it lands. Under uvicorn it is sent in the
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
    keeper = _keeper()
    if not keeper.pending:  # else after those, in order
        try:
            await spend_counters.settle_holding(
                redis_clients.for_running_loop(),
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
    lease.used_at = clock.now()
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
    if read_at is not None and read_at != key_changes.epoch():
        _settle_soon(counter, holder, release=amount)
        return
    now = clock.now()
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
        lease.used_at = clock.now()
    else:
        _settle_soon(counter, holder, release=amount)


def give_back_leases_of(key_hashes) -> None:
    """These keys were revoked or changed (gateway.key_changes): their leases go back."""
    key_hashes = set(key_hashes)
    for lease in [lease for lease in _leases.values() if lease.key_hash in key_hashes]:
        _give_back(_leases.pop(lease.counter))


def give_back_all() -> None:
    """Every lease on a cap goes back (the key-changes subscription was lost, or the server stops)."""
    for lease in list(_leases.values()):
        _give_back(_leases.pop(lease.counter))


def _give_back(lease: Lease) -> None:
    if lease.free > 0:
        _settle_soon(lease.counter, lease.holder, release=lease.free)


def sweep(now: float | None = None) -> None:
    """Gives back the leases unused for ``IDLE_SECONDS`` or older than ``MAX_SECONDS``, and the rate
    limits' leases likewise (gateway.ratelimits)."""
    from . import ratelimits

    now = clock.now() if now is None else now
    ratelimits.sweep(now)
    for lease in list(_leases.values()):
        if now - lease.used_at >= IDLE_SECONDS or now - lease.granted_at >= MAX_SECONDS:
            _give_back(_leases.pop(lease.counter))


def held() -> dict[str, int]:
    """What each lease holds, by counter (for tests and the benchmark)."""
    return {counter: lease.free for counter, lease in _leases.items()}


# --- Lifetime -----------------------------------------------------------------------------------------


class _State:
    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task] = set()  # leases being given back
        self.sweeper: asyncio.Task | None = None

    def spawn(self, coroutine) -> None:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            sweep()


async def start() -> None:
    """Starts leasing on the running event loop (gateway.asgi's lifespan): subscribes to key changes
    (gateway.key_changes: no lease is kept while that is down) and gives back idle leases. Does
    nothing without a ``redis://`` or ``rediss://`` ``REDIS_URL``."""
    global _state
    if urlparse(settings.REDIS_URL or "").scheme not in ("redis", "rediss") or _state is not None:
        return
    _state = _State()
    await key_changes.start()
    _state.sweeper = _state.loop.create_task(_state.sweep_forever())


async def stop() -> None:
    """Gives back every lease and stops (the lifespan's shutdown); give-backs that Redis does not
    take are tried for ``NEXEVO_GIVE_BACK_FINAL_SECONDS`` more (after that, the beat job gives them
    back once this process's heartbeat is stale). With nothing left held, the holder goes."""
    global _state
    state = _state
    if state is None:
        return
    state.sweeper.cancel()
    await asyncio.gather(state.sweeper, return_exceptions=True)
    await key_changes.stop()
    give_back_all()
    from . import ratelimits

    ratelimits.give_back_all()
    await asyncio.gather(*state.tasks, return_exceptions=True)
    _state = None
    await asyncio.to_thread(final_give_back)


def final_give_back(seconds: float | None = None) -> bool:
    """What waits for Redis, sent for ``seconds`` at most (``NEXEVO_GIVE_BACK_FINAL_SECONDS``); then,
    if this process holds nothing any more, its holder is removed. True once nothing is left."""
    seconds = settings.NEXEVO_GIVE_BACK_FINAL_SECONDS if seconds is None else seconds
    deadline = clock.now() + seconds
    keeper = _keepers.get(os.getpid())
    while keeper is not None and not keeper.flush(deadline):
        if clock.now() > deadline:
            logger.warning(
                "%d give-backs could not reach Redis before shutdown; the beat job makes them once this "
                "process's heartbeat is stale.",
                len(keeper.pending),
            )
            return False
        time.sleep(min(settings.NEXEVO_GIVE_BACK_RETRY_SECONDS, max(deadline - clock.now(), 0)))
    current = _current()
    if current.registered:
        try:
            if spend_counters.deregister(current.name):
                current.registered = False
        except RedisError:
            return False
    return True
