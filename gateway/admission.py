"""Admission: may this key spend on this request, and holding the request's worst case against its cap.

Before calling a provider, the endpoint *reserves* the most the request can cost (``max_cost``). The
reservation succeeds only if the key's month-to-date spend plus everything reserved and not yet settled
plus this request stays within the cap, checked and added in one atomic step. After the call the
usage is recorded (gateway.recording, which adds the real cost to the month-to-date spend) and then
the reservation is released; on failure it is just released. (With the usage journal, the release
leaves the real cost on the Redis counter before the database has it: gateway.journal.) So however
many requests race, the spend never passes the cap. Under uvicorn most holds come from the process's
lease on the cap instead, in memory; the counter counts the lease in full (gateway.leases).

Two counters do that:

* ``RedisSpendCounter`` (with ``REDIS_URL``): one Redis integer per key and month, in micro-dollars,
  holding the committed spend plus the reservations. A Lua script seeds it from the database when it
  is missing and checks-and-adds atomically. It expires after an idle hour, which also forgets a
  reservation a crashed process never released.
* ``DatabaseSpendCounter`` (without Redis): a ``KeyReservation`` row per request in flight, checked
  under a lock on the key's row. A reservation older than ``NEXEVO_RESERVATION_TTL_SECONDS`` no
  longer counts.
"""

import asyncio
import dataclasses
import datetime
import json
import logging
import uuid
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from apikeys.models import ApiKey
from billing import pricing
from billing.models import BillingAccount, Plan
from billing.services import account_for
from core.errors import ServiceError
from core.money import format_usd, format_usd_exact, from_micros, to_micros
from orgs.models import Organization

from . import hot, leases, routing
from .models import KeyReservation
from .routing import Route

logger = logging.getLogger(__name__)

COUNTER_IDLE_SECONDS = 3600


class InsufficientBalance(ServiceError):
    status = 402

    def __init__(self):
        super().__init__(
            "Your organization's balance is used up. Top up on the Billing page to continue.",
            code="insufficient_balance",
        )


class SpendCapExceeded(ServiceError):
    """402 ``spend_cap_exceeded`` (the code is the API's contract, whatever the reason). The message
    says which of three things happened: the month's spend has reached the cap; the cap has something
    left but less than this request's worst case (``max_cost``), which is held before the provider is
    called; or what is left is held by requests still in progress. A key with a $0.05 cap and no
    spend refuses a request without ``max_tokens`` whose worst case is $0.09, and only the message can
    tell its owner why; then ``param`` is ``max_tokens``, the one thing in the request that lowers
    the worst case. ``spent`` is known only to the database counter (Redis counts spend and holds as
    one number), and ``left`` is None when the counter could not be read after the refusal: the
    message then names every reason it cannot rule out."""

    status = 402

    def __init__(
        self,
        cap: Decimal,
        *,
        worst_case: Decimal | None = None,
        left: Decimal | None = None,
        spent: Decimal | None = None,
    ):
        amounts = {"cap": f"${format_usd(cap)}"}
        param = None
        if spent is not None and spent >= cap:
            message = _(
                "This key has reached its monthly spend cap of %(cap)s. Raise the cap, or wait for "
                "next month: the cap resets on the 1st at 00:00 UTC."
            )
        elif left is not None and left > 0 and worst_case is not None and worst_case > left:
            amounts.update(worst_case=f"${format_usd_exact(worst_case)}", left=f"${format_usd_exact(left)}")
            message = _(
                "This request's worst-case cost (%(worst_case)s) is more than the %(left)s left of this "
                "key's monthly spend cap of %(cap)s. Before a request runs, the most it could cost is "
                "held against the cap; without max_tokens that assumes an answer as long as the model's "
                "context. Set max_tokens to lower the worst case, or raise the cap."
            )
            param = "max_tokens"
        elif left is not None:
            message = _(
                "Nothing is left of this key's monthly spend cap of %(cap)s for this request: the "
                "month's spend has used it up, or requests still in progress hold the rest. Raise the "
                "cap, try again once those requests finish, or wait for the 1st (00:00 UTC)."
            )
        else:
            message = _(
                "This request could take this key past its monthly spend cap of %(cap)s, counting the "
                "requests still in progress. Try again once they finish, set max_tokens to lower this "
                "request's worst-case cost, or raise the cap."
            )
        super().__init__(message % amounts, code="spend_cap_exceeded", param=param)


@dataclasses.dataclass(frozen=True)
class AccountView:
    """What admission and recording read of the organization's billing account (gateway.hot)."""

    plan: Plan
    balance: Decimal


@dataclasses.dataclass
class Admission:
    view: AccountView  # the account as admission saw it: recording prices under its plan
    max_cost: Decimal
    reservation: str | None = None  # None when the key has no cap: nothing is held
    leased: bool = False  # held from this process's lease on the cap (gateway.leases), not in Redis
    holder: str | None = None  # whose holdings in Redis count it (gateway.leases.holder)
    # Names its settlement in Redis, which is made once however many times it is sent.
    settlement_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    prompt_bytes: int = 0  # of the messages and tools, as JSON: what bounds the prompt's tokens

    @property
    def plan(self) -> Plan:
        return self.view.plan


def account_view(organization_id: str) -> AccountView:
    def load():
        account = (
            BillingAccount.objects.select_related("plan").filter(organization_id=organization_id).first()
        )
        if account is None:
            account = account_for(Organization.objects.get(pk=organization_id))
        return AccountView(plan=account.plan, balance=account.balance_usd)

    return hot.get(("account", organization_id), load)


def balance_moved(organization_id: str, view: AccountView, balance: Decimal) -> None:
    """The database answered with the balance after a recording: keep it, unless this process kept a
    lower one meanwhile (two recordings answer in either order; a rise comes with a clear)."""

    def lower(kept: AccountView) -> AccountView:
        if kept.plan.pk != view.plan.pk or kept.balance <= balance:
            return kept
        return dataclasses.replace(kept, balance=balance)

    hot.update(("account", organization_id), lower)


def max_cost(*, plan: Plan, route: Route, messages_bytes: int, max_tokens: int | None) -> Decimal:
    """The most this request can cost on any of its targets.

    Every token stands for at least one byte of text, so the prompt has at most as many tokens as
    the request's messages (and tools) have bytes; neither it nor the completion can pass the
    model's context length, which also bounds a completion without ``max_tokens``.
    """
    prices = routing.catalog().prices
    worst = Decimal(0)
    for target in route.targets:
        context = target.context_length
        prompt = min(messages_bytes, context)
        completion = min(max_tokens if max_tokens is not None else context, context)
        worst = max(
            worst,
            pricing.cost(
                plan=plan,
                tier=route.tier,
                model=target.model,
                prompt_tokens=prompt,
                completion_tokens=completion,
                list_prices=prices,
            ),
        )
    return worst


def assess(*, api_key: ApiKey, route: Route, body: dict) -> Admission:
    """Refuses a request the organization cannot pay for, and prices its worst case. Reads only
    snapshots when they are warm (gateway.hot); the hold is taken by ``reserve``."""
    view = account_view(api_key.organization_id)
    if view.balance <= 0:
        raise InsufficientBalance
    size = len(json.dumps([body.get("messages"), body.get("tools")], ensure_ascii=False).encode())
    worst = max_cost(plan=view.plan, route=route, messages_bytes=size, max_tokens=body.get("max_tokens"))
    return Admission(view=view, max_cost=worst, prompt_bytes=size)


class KeyForgotten(Exception):
    """Some process revoked or changed the key since this one read it: nothing was held; read the
    key afresh (gateway.hot)."""


async def areserve(
    api_key: ApiKey, admission: Admission, *, check_forgotten: bool = True, read_at: int | None = None
) -> None:
    """Holds the request's worst case against the key's cap: with Redis, from this process's lease
    when it has one (gateway.leases), else in one call from the event loop which, unless told
    otherwise, also refuses with ``KeyForgotten`` a key some process forgot; without Redis, the
    database counter in a thread. ``read_at``: ``leases.epoch()`` from before the key was read."""
    cap = api_key.monthly_spend_cap_usd
    # Every key forgotten anywhere, before the key was read, is forgotten here: no marker to check.
    trusted = read_at is not None and leases.trusted(since=read_at)
    forgotten = _FORGOTTEN + api_key.key_hash if settings.REDIS_URL and check_forgotten else None
    if cap is None:
        if forgotten and not trusted and await _admit_uncapped(forgotten):
            raise KeyForgotten
        return
    if settings.REDIS_URL:
        month = _month(timezone.now())
        counter = RedisSpendCounter()
        key, cap_micros, amount = counter.key(api_key, month), to_micros(cap), to_micros(admission.max_cost)
        holder = leases.take(key, cap=cap_micros, amount=amount) if trusted else None
        # Another request of the key is asking for a lease right now: wait for it (one round trip)
        # rather than ask for a second one beside it.
        if holder is None and trusted and await leases.grant_landed(key) and leases.trusted(since=read_at):
            holder = leases.take(key, cap=cap_micros, amount=amount)
        if holder is not None:
            admission.reservation, admission.holder, admission.leased = month, holder, True
            return
        admission.reservation, admission.holder = await counter.areserve(
            api_key, admission.max_cost, cap, forgotten=forgotten, read_at=read_at
        )
        admission.leased = leases.running()
    else:
        reserve = sync_to_async(DatabaseSpendCounter().reserve)
        admission.reservation = await reserve(api_key, admission.max_cost, cap)


def _redis_settlement(admission: Admission, cost: Decimal) -> tuple[int, int]:
    """What comes off the holder's holdings (``release``) and what goes on the counter as spent, for
    a hold settled at ``cost``: a hold kept in Redis is released whole; one from a lease releases
    only what it spent (the rest goes back to the lease, in memory), all of it if it spent more."""
    held, spent_micros = to_micros(admission.max_cost), to_micros(cost)
    if admission.leased:
        return min(spent_micros, held), spent_micros
    return held, spent_micros


async def asettle(api_key: ApiKey, admission: Admission, cost: Decimal, *, in_redis: bool = False) -> None:
    """Drops the hold once ``cost`` is recorded (the month-to-date spend includes it); a request that
    failed settles at zero. ``in_redis``: the usage journal's call settled the Redis side already
    (``settlement``), so only a lease's part, in memory, is left."""
    if admission.reservation is None:
        return
    if not settings.REDIS_URL:
        release = sync_to_async(DatabaseSpendCounter().release)
        await release(api_key, admission.reservation, admission.max_cost, recorded=cost)
        return
    key = RedisSpendCounter().key(api_key, admission.reservation)
    release, spend = _redis_settlement(admission, cost)
    if admission.leased:
        leases.release(
            key,
            holder=admission.holder,
            cap=to_micros(api_key.monthly_spend_cap_usd),
            amount=to_micros(admission.max_cost - cost),
            worst=to_micros(admission.max_cost),
        )
    if not in_redis and (release or spend):
        # Retried until it lands (gateway.leases); the answer never waits for it under uvicorn.
        await leases.settle_holding(
            key, admission.holder, release=release, spend=spend, op=admission.settlement_id
        )


def spent(organization_id: str, view: AccountView, cost: Decimal) -> None:
    """A request was charged ``cost`` and the database has not said the new balance yet (the usage
    journal): this process's snapshot of the balance goes down by it. A snapshot read afresh before the
    recorder wrote it goes down by it twice until it expires: it errs low, never lets a balance pass 0."""

    def lower(kept: AccountView) -> AccountView:
        if kept.plan.pk != view.plan.pk:
            return kept
        return dataclasses.replace(kept, balance=kept.balance - cost)

    hot.update(("account", organization_id), lower)


def settlement(api_key: ApiKey, admission: Admission, cost: Decimal) -> tuple[str, str, int, int, str] | None:
    """What settles the hold at ``cost`` inside another Redis script (gateway.journal): the key's
    counter, the holder, what comes off its holdings and what is spent, in micro-dollars, and the
    settlement's id (the same if it is sent again: it is made once); None when nothing is held in
    Redis. A hold from a lease still gives the rest back to the lease (``asettle(in_redis=True)``)."""
    if admission.reservation is None or not settings.REDIS_URL or admission.holder is None:
        return None
    release, spend = _redis_settlement(admission, cost)
    counter_key = RedisSpendCounter().key(api_key, admission.reservation)
    return counter_key, admission.holder, release, spend, admission.settlement_id


@dataclasses.dataclass
class Hold:
    """Everything an admitted request holds: its worst case against the key's cap (``admission``)
    and its place in the key's rate limits (``grant``, gateway.ratelimits), given back exactly once
    whatever happens. gateway.api settles it after the usage is recorded, and on every other way out
    (a provider's failure, a refusal, an exception of any type, a stream abandoned): ``recorded()``
    says what the request cost, and ``settle()`` gives back the rest; a request that recorded
    nothing settles at zero. Settling twice does nothing the second time."""

    api_key: ApiKey
    admission: Admission
    grant: object | None = None  # gateway.ratelimits.Grant
    cost: Decimal = Decimal(0)
    tokens: int = 0
    cap_settled: bool = False  # settled in Redis by another call (the usage journal's, gateway.journal)
    settled: bool = False

    def recorded(self, cost: Decimal, *, tokens: int) -> None:
        self.cost, self.tokens = cost, tokens

    async def settle(self) -> None:
        if self.settled:
            return
        self.settled = True
        from . import ratelimits

        try:
            await asettle(self.api_key, self.admission, self.cost, in_redis=self.cap_settled)
        finally:
            if self.grant is not None:
                await ratelimits.settle(self.grant, tokens=self.tokens)

    async def cancel(self) -> None:
        """The request was refused once counted: the cap's hold at zero, and it counts for nothing in
        the rate limits."""
        from . import ratelimits

        if self.grant is not None:
            await ratelimits.cancel(self.grant)
        await self.settle()


class CounterUnavailable(ServiceError):
    status = 503

    def __init__(self):
        super().__init__(
            "Spend caps cannot be checked right now, so requests of keys with a cap are paused. "
            "Try again in a moment.",
            code="service_unavailable",
        )


def _month(now: datetime.datetime) -> str:
    return now.astimezone(datetime.UTC).strftime("%Y-%m")


class DatabaseSpendCounter:
    def reserve(self, api_key: ApiKey, amount: Decimal, cap: Decimal) -> str:
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

    def release(self, api_key: ApiKey, reservation: str, amount: Decimal, *, recorded: Decimal) -> None:
        KeyReservation.objects.filter(pk=reservation).delete()


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


# KEYS[1] the counter, KEYS[2] a key-forgotten marker ("" for none): -3 if it exists; KEYS[3]
# ``HOLDERS``, KEYS[4] the holder's holdings. ARGV: amount, cap, idle seconds, the committed spend to
# seed a missing counter with ("" when not read yet: then a missing counter answers -2, and the
# caller reads the spend from the database and asks again), how much more to grant if the cap
# leaves room (a lease, gateway.leases: at most half of the room left), the holder, and "1" to
# register it (its first hold). Answers what it granted (the amount and the extra), -1 when the
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


class RedisSpendCounter:
    _client = None

    @classmethod
    def client(cls):
        if cls._client is None:
            import redis

            cls._client = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
            )
        return cls._client

    def key(self, api_key: ApiKey, month: str) -> str:
        return f"nexevo:spend:{api_key.pk}:{month}"

    async def areserve(
        self, api_key: ApiKey, amount: Decimal, cap: Decimal, *, forgotten=None, read_at: int | None = None
    ) -> tuple[str, str]:
        """Holds ``amount`` on the key's counter for this month, in one call from the event loop (only
        seeding reads the database), written in this process's holdings (gateway.leases.holder):
        answers the month and the holder. With ``forgotten`` (a marker's name), a key whose marker
        exists is refused with ``KeyForgotten``. Where leases run (gateway.leases), what is left of
        this process's lease counts towards the request, and the one request of the key that finds
        no grant on its way asks for a lease on top; what is granted beyond the request is kept."""
        now = timezone.now()
        month = _month(now)
        key = self.key(api_key, month)
        cap_micros, amount_micros = to_micros(cap), to_micros(amount)
        rest = leases.take_rest(key, cap=cap_micros) if leases.running() else 0
        need = max(amount_micros - rest, 0)
        granting = leases.grant_begins(key) if leases.live() else False
        extra = leases.lease_wanted(key, cap=cap_micros, worst=amount_micros) if granting else 0
        granted, holder = -1, leases.holder()
        try:
            granted, holder = await self._areserve_as_holder(key, need, cap_micros, extra, forgotten)
            if granted == -2:
                seed = str(to_micros(await sync_to_async(self._committed)(api_key, now)))
                granted, holder = await self._areserve_as_holder(
                    key, need, cap_micros, extra, forgotten, seed=seed
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
            raise KeyForgotten
        # Grants made meanwhile for this process's other requests may have left enough in its lease:
        # the cap is refused only once neither Redis nor the lease has room.
        if granted < 0:
            held_by = leases.take(key, cap=cap_micros, amount=amount_micros)
            if held_by is None:
                raise SpendCapExceeded(cap, worst_case=amount, left=await self.aleft(key, cap_micros))
            holder = held_by
        return month, holder

    async def _areserve_as_holder(self, key, amount, cap, extra, forgotten, *, seed="") -> tuple[int, str]:
        """One ``_RESERVE`` as this process's holder; again under a new name if the beat job took the
        old one for dead (``leases.holder_swept``)."""
        for _attempt in range(2):
            holder, register = leases.holder(), not leases.holder_is_registered()
            granted = await self._areserve(
                key,
                amount,
                cap,
                seed=seed,
                forgotten=forgotten,
                extra=extra,
                holder=holder,
                register=register,
            )
            if granted == -4:
                leases.holder_swept(holder)
                continue
            if register and granted != -3:
                leases.mark_registered(holder)
            return granted, holder
        raise CounterUnavailable

    # What the cap has left, for the refusal's message only (never for a decision): the cap less the
    # counter, which holds the committed spend, the holds of requests in progress and every process's
    # lease, plus this process's own lease, which its requests may still hold from. None when Redis
    # cannot say: the message then names both reasons.

    async def aleft(self, key: str, cap_micros: int) -> Decimal | None:
        try:
            value = await async_client().get(key)
        except RedisError:
            return None
        if value is None:
            return None
        return from_micros(cap_micros - int(value) + leases.free(key, cap=cap_micros))

    def _committed(self, api_key: ApiKey, now) -> Decimal:
        key = ApiKey.objects.only("spend_month", "spend_month_to_date_usd").get(pk=api_key.pk)
        return key.month_to_date_spend(now)

    async def _areserve(
        self,
        key: str,
        amount: int,
        cap: int,
        *,
        seed: str,
        forgotten,
        extra: int,
        holder: str,
        register: bool,
    ) -> int:
        arguments = (amount, cap, COUNTER_IDLE_SECONDS, seed, extra, holder, "1" if register else "0")
        keys = (key, forgotten or "", HOLDERS, holdings_key(holder))
        try:
            return int(await async_client().eval(_RESERVE, len(keys), *keys, *arguments))
        except RedisError as error:
            raise CounterUnavailable from error


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
    client = RedisSpendCounter.client()
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
        _prefix, _kind, key_id, month = counter.split(":")
    except ValueError:
        return ""
    now = timezone.now()
    if month != _month(now):
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


_async_clients: dict = {}


def async_client():
    """A Redis client for the running event loop (a connection pool cannot cross loops)."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from core.cache import fail_fast

    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        for old in [other for other in _async_clients if other.is_closed()]:
            del _async_clients[old]
        # No retries: a call that timed out may have run, and an adjustment sent twice would count a
        # release twice (the cap could be passed); a caller treats a failure as Redis unavailable.
        client = redis.asyncio.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            health_check_interval=30,
            retry=Retry(NoBackoff(), 0),
            # During an outage, one timeout per few seconds rather than one per call (core.cache).
            **fail_fast(settings.REDIS_URL, asynchronous=True),
        )
        _async_clients[loop] = client
    return client


# Another process revoked or changed these keys: its snapshots here are not to be trusted (gateway.hot).
# A marker outlives any snapshot read before the change.
_FORGOTTEN = "nexevo:key-forgotten:"


def mark_keys_forgotten(key_hashes) -> None:
    if not settings.REDIS_URL or not key_hashes:
        return
    seconds = settings.NEXEVO_HOT_CACHE_SECONDS + 1
    try:
        with RedisSpendCounter.client().pipeline(transaction=False) as pipe:
            for key_hash in key_hashes:
                pipe.set(_FORGOTTEN + key_hash, 1, ex=seconds)
            pipe.publish(leases.channel(), " ".join(key_hashes))  # the processes that hold leases
            pipe.execute()
    except RedisError:
        logger.warning("Could not mark %d forgotten keys for the other processes.", len(key_hashes))


async def _admit_uncapped(forgotten: str) -> bool:
    """Whether a process forgot this key in the last moments (unknown, Redis down, counts as yes)."""
    try:
        return bool(await async_client().exists(forgotten))
    except RedisError:
        return True


def spend_in_flight(api_key: ApiKey) -> Decimal:
    """What the counter holds beyond the recorded spend (for tests and the admin): zero when idle."""
    now = timezone.now()
    if settings.REDIS_URL:
        value = RedisSpendCounter.client().get(f"nexevo:spend:{api_key.pk}:{_month(now)}")
        if value is None:
            return Decimal(0)
        key = ApiKey.objects.get(pk=api_key.pk)
        return from_micros(int(value)) - key.month_to_date_spend(now)
    return KeyReservation.objects.filter(api_key_id=api_key.pk).aggregate(total=Sum("amount_usd"))[
        "total"
    ] or Decimal(0)
