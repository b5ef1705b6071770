"""The spend counters that hold requests' worst cases against keys' monthly caps (gateway.admission
decides what to hold; these count it), and every web process's *holdings* on them in Redis.

With ``REDIS_URL`` a Redis integer per key and month (``redis_reserve``, one Lua script that also
writes the holder's holdings; ``dead_holdings_give_back`` for a process that died); without it a
``KeyReservation`` row per request (``database_reserve``). See gateway/ARCHITECTURE.md.
"""

import datetime
import logging
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from redis.exceptions import RedisError

from apikeys.models import ApiKey
from core.money import from_micros, to_micros

from . import leases, redis_clients
from .admission_errors import CounterUnavailable, KeyChanged, SpendCapExceeded
from .models import KeyReservation

logger = logging.getLogger(__name__)

COUNTER_IDLE_SECONDS = 3600


def month(now: datetime.datetime) -> str:
    """The month a counter counts, as its key names it."""
    return now.astimezone(datetime.UTC).strftime("%Y-%m")


def counter_key(api_key: ApiKey, month: str) -> str:
    """The Redis counter of ``api_key``'s spend and holds in ``month``."""
    return f"nexevo:spend:{api_key.pk}:{month}"


# --- The database counter (without Redis) ---------------------------------------------------------


def database_reserve(api_key: ApiKey, amount: Decimal, cap: Decimal) -> str:
    """Holds ``amount`` against the key's cap in a ``KeyReservation`` row: answers its id."""
    now = timezone.now()
    with transaction.atomic():
        key = (
            ApiKey.objects.select_for_update()
            .only("spend_month", "spend_month_to_date_usd")
            .get(pk=api_key.pk)
        )
        held = KeyReservation.objects.filter(
            api_key_id=api_key.pk,
            created_at__gte=now - datetime.timedelta(seconds=settings.NEXEVO_RESERVATION_TTL_SECONDS),
        ).aggregate(total=Sum("amount_usd"))["total"] or Decimal(0)
        spent = key.month_to_date_spend(now)
        if amount > cap - spent - held:
            raise SpendCapExceeded(cap, worst_case=amount, left=cap - spent - held, spent=spent)
        return KeyReservation.objects.create(api_key_id=api_key.pk, amount_usd=amount, created_at=now).pk


def database_release(reservation: str) -> None:
    KeyReservation.objects.filter(pk=reservation).delete()


# --- Holdings ---------------------------------------------------------------------------------------
#
# Every hold on a counter is also written in its holder's holdings (a hash, ``holdings_key``:
# counter -> micro-dollars counted there and not spent), in the same script as the counter, so a
# crash can never leave the two apart. A holder is one process (gateway.leases.holder), alive while
# its heartbeat in ``HOLDERS`` (a sorted set scored by the last beat, in ms of Redis's clock) is
# fresh; the beat job gives a dead holder's holdings back (``_GIVE_BACK_DEAD``, gateway.tasks).
HOLDERS = "nexevo:holders"
_HOLDINGS = "nexevo:holdings:"
_HOLDER_OPS = "nexevo:holder-ops:"
# The last give-backs a holder made, by id, so that one retried after a call that failed without an
# answer (it may have run) is made once.
HOLDER_OPS_KEPT = 1000


def holdings_key(holder: str) -> str:
    return _HOLDINGS + holder


def holder_ops_key(holder: str) -> str:
    return _HOLDER_OPS + holder


# KEYS[1] the counter, KEYS[2] a key-changed marker (gateway.key_changes; "" for none): -3 if it
# exists; KEYS[3] ``HOLDERS``, KEYS[4] the holder's holdings. ARGV: amount, cap, idle seconds, the
# committed spend to seed a missing counter with ("" when not read yet: then a missing counter
# answers -2, and the caller reads the spend from the database and asks again), how much more to
# grant if the cap leaves room (a lease, gateway.leases: at most half of the room left), the holder,
# and "1" to register it (its first hold). Answers what it granted (the amount and the extra), -1 when the
# amount does not fit, -4 when the holder is not registered (its holdings were given back as a dead
# process's: it takes a new name). A refusal leaves the counter's expiry alone: a client retrying
# against a counter that over-counts (a hold of a dead process) must not keep it alive. All amounts
# in micro-dollars.
_RESERVE = """
if KEYS[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
  return -3
end
if ARGV[7] == '1' then
  local clock = redis.call('TIME')
  redis.call('ZADD', KEYS[3], clock[1] * 1000 + math.floor(clock[2] / 1000), ARGV[6])
elseif not redis.call('ZSCORE', KEYS[3], ARGV[6]) then
  return -4
end
local current = redis.call('GET', KEYS[1])
if not current then
  if ARGV[4] == '' then
    return -2
  end
  redis.call('SET', KEYS[1], ARGV[4])
  current = ARGV[4]
end
local room = tonumber(ARGV[2]) - tonumber(current) - tonumber(ARGV[1])
if room < 0 then
  return -1
end
local granted = tonumber(ARGV[1]) + math.min(tonumber(ARGV[5] or 0), math.floor(room / 2))
redis.call('INCRBY', KEYS[1], granted)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('HINCRBY', KEYS[4], KEYS[1], granted)
return granted
"""
# Settles part of what a holder holds on a counter. KEYS[1] the counter, KEYS[2] the holder's
# holdings, KEYS[3] its recent give-backs. ARGV: ``release`` (what stops being held), ``spend`` (what
# of it, or beyond it, was spent), the give-back's id ("" for none), "1" when it is sent again. Only
# what the holdings still hold comes off the counter: what the beat job gave back already (the
# holder was taken for dead) is not taken off twice, and the spend goes on it whatever. A counter
# that is gone is not made again (it is seeded afresh from the database, which holds every recorded
# cost). Answers 0 when that id
# was settled already.


def settle_script(
    *, counter: str, holdings: str, ops: str, release: str, spend: str, op: str, again: str = "'0'"
) -> str:
    """The Lua of a settlement (``_SETTLE``), on the KEYS and ARGV named, for another script to run
    in the same step (gateway.journal's ``_APPEND``). When ``again`` is '1' (a settlement sent again
    after a call that may have made it), returns 0 from the script if ``op`` was made already; only
    then is the list of recent settlements searched."""
    return f"""
if {op} ~= '' then
  if {again} == '1' and redis.call('LPOS', {ops}, {op}) then
    return 0
  end
  redis.call('LPUSH', {ops}, {op})
  redis.call('LTRIM', {ops}, 0, {HOLDER_OPS_KEPT - 1})
  redis.call('EXPIRE', {ops}, 86400)
end
do
  local held = tonumber(redis.call('HGET', {holdings}, {counter}) or 0)
  local released = math.max(math.min(tonumber({release}), held), 0)
  if released >= held then
    redis.call('HDEL', {holdings}, {counter})
  elseif released > 0 then
    redis.call('HINCRBY', {holdings}, {counter}, -released)
  end
  local change = tonumber({spend}) - released
  if change ~= 0 and redis.call('EXISTS', {counter}) == 1 then
    redis.call('INCRBY', {counter}, change)
  end
end
"""


_SETTLE = (
    settle_script(
        counter="KEYS[1]",
        holdings="KEYS[2]",
        ops="KEYS[3]",
        release="ARGV[1]",
        spend="ARGV[2]",
        op="ARGV[3]",
        again="ARGV[4]",
    )
    + "return 1"
)
# A holder's heartbeat. KEYS[1] ``HOLDERS``. ARGV: the holder. Answers 0, and does not register
# it, when it is not registered (taken for dead: it takes a new name), else 1.
_HEARTBEAT = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
local clock = redis.call('TIME')
redis.call('ZADD', KEYS[1], clock[1] * 1000 + math.floor(clock[2] / 1000), ARGV[1])
return 1
"""
# A holder that stops (a clean shutdown) and holds nothing: it goes. KEYS[1] ``HOLDERS``, KEYS[2] its
# holdings, KEYS[3] its recent give-backs; ARGV: the holder. Answers 1 if it went, 0 if it holds
# something still (the beat job gives that back once its heartbeat is stale).
_DEREGISTER = """
if redis.call('HLEN', KEYS[2]) > 0 then
  return 0
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""


def heartbeat(holder: str) -> bool:
    """Beats ``holder``'s heartbeat; False when it is not registered (taken for dead: it takes a new
    name, gateway.leases.holder_swept). Blocking (the holdings' keeper thread)."""
    return bool(redis_clients.blocking().eval(_HEARTBEAT, 1, HOLDERS, holder))


def deregister(holder: str) -> bool:
    """Removes ``holder`` if it holds nothing (a clean shutdown): True if it went. Blocking."""
    keys = (HOLDERS, holdings_key(holder), holder_ops_key(holder))
    return bool(redis_clients.blocking().eval(_DEREGISTER, len(keys), *keys, holder))


# Gives back what a dead holder held. KEYS[1] ``HOLDERS``, KEYS[2] its holdings, KEYS[3] its recent
# give-backs, KEYS[4..] the counters its holdings name (as read just before). ARGV: the holder, the
# heartbeat (ms of Redis's clock) before which a holder is dead, the one before which its holdings
# are too old to give back (a counter may have idled out and been seeded afresh since: they are
# dropped, which can only over-count), then one floor per counter in KEYS[4..]: what the database
# says is spent, which a give-back never takes the counter below ("" for none). Answers what it
# gave back in all, or -1 when the holder beat meanwhile (it lives).
_GIVE_BACK_DEAD = """
local beat = redis.call('ZSCORE', KEYS[1], ARGV[1])
if beat and tonumber(beat) >= tonumber(ARGV[2]) then
  return -1
end
local total = 0
if beat and tonumber(beat) >= tonumber(ARGV[3]) then
  for index = 4, #KEYS do
    local counter = KEYS[index]
    local held = tonumber(redis.call('HGET', KEYS[2], counter) or 0)
    local current = redis.call('GET', counter)
    if held > 0 and current then
      local back = held
      local floor = ARGV[index]
      if floor and floor ~= '' then
        back = math.max(math.min(back, tonumber(current) - tonumber(floor)), 0)
      end
      if back > 0 then
        redis.call('DECRBY', counter, back)
        total = total + back
      end
    end
    redis.call('HDEL', KEYS[2], counter)
  end
end
if redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return total
"""

# --- The Redis counter --------------------------------------------------------------------------


async def redis_reserve(
    api_key: ApiKey, amount: Decimal, cap: Decimal, *, changed_marker: str = "", read_at: int | None = None
) -> tuple[str, str]:
    """Holds ``amount`` on the key's counter for this month, in one call from the event loop (only
    seeding reads the database), written in this process's holdings (gateway.leases.holder):
    answers the month and the holder. With ``changed_marker`` (gateway.key_changes.marker_key), a
    key whose marker exists is refused with ``KeyChanged``. Where leases run (gateway.leases), what
    is left of this process's lease counts towards the request, and the one request of the key that
    finds no grant on its way asks for a lease on top; what is granted beyond the request is kept.
    ``read_at``: gateway.key_changes.epoch() from before the key was read."""
    now = timezone.now()
    this_month = month(now)
    key = counter_key(api_key, this_month)
    cap_micros, amount_micros = to_micros(cap), to_micros(amount)
    rest = leases.take_rest(key, cap=cap_micros) if leases.running() else 0
    need = max(amount_micros - rest, 0)
    granting = leases.grant_begins(key) if leases.live() else False
    extra = leases.lease_wanted(key, cap=cap_micros, worst=amount_micros) if granting else 0
    granted, holder = -1, leases.holder()
    try:
        granted, holder = await _reserve_as_holder(key, need, cap_micros, extra, changed_marker)
        if granted == -2:
            seed = str(to_micros(await sync_to_async(_committed)(api_key, now)))
            granted, holder = await _reserve_as_holder(
                key, need, cap_micros, extra, changed_marker, seed=seed
            )
    finally:
        surplus = rest + granted - amount_micros if granted >= 0 else rest
        leases.keep(
            key,
            key_hash=api_key.key_hash,
            holder=holder,
            cap=cap_micros,
            amount=surplus,
            worst=amount_micros,
            read_at=read_at,
        )
        if granting:
            leases.grant_ends(key)
    if granted == -3:
        raise KeyChanged
    # Grants made meanwhile for this process's other requests may have left enough in its lease:
    # the cap is refused only once neither Redis nor the lease has room.
    if granted < 0:
        held_by = leases.take(key, cap=cap_micros, amount=amount_micros)
        if held_by is None:
            raise SpendCapExceeded(cap, worst_case=amount, left=await _left(key, cap_micros))
        holder = held_by
    return this_month, holder


async def _reserve_as_holder(key, amount, cap, extra, changed_marker, *, seed="") -> tuple[int, str]:
    """One ``_RESERVE`` as this process's holder; again under a new name if the beat job took the
    old one for dead (``leases.holder_swept``)."""
    for _attempt in range(2):
        holder, register = leases.holder(), not leases.holder_is_registered()
        arguments = (amount, cap, COUNTER_IDLE_SECONDS, seed, extra, holder, "1" if register else "0")
        keys = (key, changed_marker, HOLDERS, holdings_key(holder))
        try:
            granted = int(await redis_clients.for_running_loop().eval(_RESERVE, len(keys), *keys, *arguments))
        except RedisError as error:
            raise CounterUnavailable from error
        if granted == -4:
            leases.holder_swept(holder)
            continue
        if register and granted != -3:
            leases.mark_registered(holder)
        return granted, holder
    raise CounterUnavailable


async def _left(key: str, cap_micros: int) -> Decimal | None:
    """What the cap has left, for the refusal's message only (never for a decision): the cap less the
    counter, which holds the committed spend, the holds of requests in progress and every process's
    lease, plus this process's own lease, which its requests may still hold from. None when Redis
    cannot say: the message then names both reasons."""
    try:
        value = await redis_clients.for_running_loop().get(key)
    except RedisError:
        return None
    if value is None:
        return None
    return from_micros(cap_micros - int(value) + leases.free(key, cap=cap_micros))


def _committed(api_key: ApiKey, now) -> Decimal:
    key = ApiKey.objects.only("spend_month", "spend_month_to_date_usd").get(pk=api_key.pk)
    return key.month_to_date_spend(now)


def settle_holding(
    client, counter: str, holder: str, *, release: int, spend: int, op: str = "", again: bool = False
):
    """``_SETTLE`` on ``client`` (a Redis client, sync or asyncio: what it returns is awaited by an
    async caller): ``release`` of what ``holder`` holds on ``counter`` stops being held, ``spend``
    of it (or beyond it) was spent. ``op`` names it; ``again`` when it may have been made already."""
    keys = (counter, holdings_key(holder), holder_ops_key(holder))
    return client.eval(_SETTLE, len(keys), *keys, release, spend, op, "1" if again else "0")


def dead_holdings_give_back() -> int:
    """Gives back the holdings of every dead holder (its heartbeat older than
    ``NEXEVO_HOLDER_TTL_SECONDS``: a web process killed, or one that lost Redis and did not come back
    to it) to the counters they are on, never taking a counter below what the database says the key
    spent this month plus what live holders hold on it. Holdings whose heartbeat stopped longer
    ago than a counter idles (``COUNTER_IDLE_SECONDS``) are only dropped: their counter may have been
    seeded afresh since. Safe to run twice or at once in two workers (each holder in one script).
    Answers what it gave back, in micro-dollars."""
    client = redis_clients.blocking()
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    cutoff = now_ms - settings.NEXEVO_HOLDER_TTL_SECONDS * 1000
    too_old = now_ms - COUNTER_IDLE_SECONDS * 1000
    dead = [name.decode() for name in client.zrangebyscore(HOLDERS, "-inf", f"({cutoff}")]
    if not dead:
        return 0
    alive = [name.decode() for name in client.zrangebyscore(HOLDERS, cutoff, "+inf")]
    given_back = 0
    for holder in dead:
        counters = [counter.decode() for counter in client.hkeys(holdings_key(holder))]
        floors = [_floor(client, counter, alive) for counter in counters]
        keys = (HOLDERS, holdings_key(holder), holder_ops_key(holder), *counters)
        answer = int(client.eval(_GIVE_BACK_DEAD, len(keys), *keys, holder, cutoff, too_old, *floors))
        if answer > 0:
            logger.warning(
                "Gave back %s micro-dollars that dead process %s held on %d counters.",
                answer,
                holder,
                len(counters),
            )
            given_back += answer
    return given_back


def _floor(client, counter: str, alive: list[str]) -> str:
    """What the counter holds at least, by the database and the live holders: the key's recorded
    spend this month (with the usage journal, what the recorder wrote so far) and every live
    holder's holdings on it. "" when that cannot be said (a key gone, another month)."""
    try:
        _prefix, _kind, key_id, counter_month = counter.split(":")
    except ValueError:
        return ""
    now = timezone.now()
    if counter_month != month(now):
        return ""
    api_key = ApiKey.objects.filter(pk=key_id).only("spend_month", "spend_month_to_date_usd").first()
    if api_key is None:
        return ""
    held = 0
    if alive:
        with client.pipeline(transaction=False) as pipe:
            for holder in alive:
                pipe.hget(holdings_key(holder), counter)
            held = sum(int(value) for value in pipe.execute() if value is not None)
    return str(to_micros(api_key.month_to_date_spend(now)) + held)


def spend_in_flight(api_key: ApiKey) -> Decimal:
    """What the counter holds beyond the recorded spend (for tests and the admin): zero when idle."""
    now = timezone.now()
    if settings.REDIS_URL:
        value = redis_clients.blocking().get(counter_key(api_key, month(now)))
        if value is None:
            return Decimal(0)
        key = ApiKey.objects.get(pk=api_key.pk)
        return from_micros(int(value)) - key.month_to_date_spend(now)
    return KeyReservation.objects.filter(api_key_id=api_key.pk).aggregate(total=Sum("amount_usd"))[
        "total"
    ] or Decimal(0)
