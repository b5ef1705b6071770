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
        if trusted and leases.take(
            counter.key(api_key, month), cap=to_micros(cap), amount=to_micros(admission.max_cost)
        ):
            admission.reservation, admission.leased = month, True
            return
        admission.reservation = await counter.areserve(
            api_key, admission.max_cost, cap, forgotten=forgotten, read_at=read_at
        )
        admission.leased = leases.running()
    else:
        reserve = sync_to_async(DatabaseSpendCounter().reserve)
        admission.reservation = await reserve(api_key, admission.max_cost, cap)


async def asettle(api_key: ApiKey, admission: Admission, cost: Decimal) -> None:
    """Drops the hold once ``cost`` is recorded (the month-to-date spend includes it); a request that
    failed settles at zero."""
    if admission.reservation is None:
        return
    if admission.leased:
        key = RedisSpendCounter().key(api_key, admission.reservation)
        unspent = to_micros(admission.max_cost - cost)
        leases.release(key, cap=to_micros(api_key.monthly_spend_cap_usd), amount=unspent)
        return
    try:
        if settings.REDIS_URL:
            counter = RedisSpendCounter()
            await counter.arelease(api_key, admission.reservation, admission.max_cost, recorded=cost)
        else:
            release = sync_to_async(DatabaseSpendCounter().release)
            await release(api_key, admission.reservation, admission.max_cost, recorded=cost)
    except CounterUnavailable:
        # The usage is recorded already; a hold left in Redis only over-counts (never lets the spend
        # pass the cap) and goes when the counter idles out.
        logger.warning("Could not release a spend hold of %s on %s.", admission.max_cost, api_key.pk)


def spent(organization_id: str, view: AccountView, cost: Decimal) -> None:
    """A request was charged ``cost`` and the database has not said the new balance yet (the usage
    journal): this process's snapshot of the balance goes down by it. A snapshot read afresh before the
    recorder wrote it goes down by it twice until it expires: it errs low, never lets a balance pass 0."""

    def lower(kept: AccountView) -> AccountView:
        if kept.plan.pk != view.plan.pk:
            return kept
        return dataclasses.replace(kept, balance=kept.balance - cost)

    hot.update(("account", organization_id), lower)


def settlement(api_key: ApiKey, admission: Admission, cost: Decimal) -> tuple[str, int] | None:
    """What settles the hold at ``cost`` inside another Redis script (gateway.journal): the key's
    counter and the adjustment in micro-dollars; None when nothing is held in Redis."""
    if admission.reservation is None or admission.leased or not settings.REDIS_URL:
        return None
    return RedisSpendCounter().key(api_key, admission.reservation), to_micros(cost - admission.max_cost)


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
    cap_settled: bool = False  # settled by another call (the usage journal's, gateway.journal)
    settled: bool = False

    def recorded(self, cost: Decimal, *, tokens: int) -> None:
        self.cost, self.tokens = cost, tokens

    async def settle(self) -> None:
        if self.settled:
            return
        self.settled = True
        from . import ratelimits

        try:
            if not self.cap_settled:
                await asettle(self.api_key, self.admission, self.cost)
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


def counter():
    return RedisSpendCounter() if settings.REDIS_URL else DatabaseSpendCounter()


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


# KEYS[1] the counter, KEYS[2] a key-forgotten marker ("" for none): -3 if it exists. ARGV: amount,
# cap, idle seconds, the committed spend to seed a missing counter with ("" when not read yet: then a
# missing counter answers -2, and the caller reads the spend from the database and asks again), and
# how much more to grant if the cap leaves room (a lease, gateway.leases: at most half of the room
# left). Answers what it granted (the amount and the extra), or -1 when the amount does not fit. All
# amounts in micro-dollars.
_RESERVE = """
if KEYS[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
  return -3
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
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return -1
end
local granted = tonumber(ARGV[1]) + math.min(tonumber(ARGV[5] or 0), math.floor(room / 2))
redis.call('INCRBY', KEYS[1], granted)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return granted
"""
# Adds ARGV[1] (negative to release) only to a counter that still exists: a counter that expired is
# seeded afresh from the database, which holds every recorded cost (with the usage journal on, all but
# what the recorder has not written yet: a counter idles out only after an hour without requests).
_ADJUST = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return 0
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

    def reserve(self, api_key: ApiKey, amount: Decimal, cap: Decimal) -> str:
        now = timezone.now()
        month = _month(now)
        total = self._reserve(api_key, month, amount, cap, seed="")
        if total == -2:  # no counter yet this month (or it idled out): seed it from the database
            committed = self._committed(api_key, now)
            total = self._reserve(api_key, month, amount, cap, seed=str(to_micros(committed)))
        if total < 0:
            raise SpendCapExceeded(cap, worst_case=amount, left=self.left(api_key, month, cap))
        return month

    def _reserve(self, api_key: ApiKey, month: str, amount: Decimal, cap: Decimal, *, seed: str) -> int:
        try:
            return int(
                self.client().eval(
                    _RESERVE,
                    2,
                    self.key(api_key, month),
                    "",
                    to_micros(amount),
                    to_micros(cap),
                    COUNTER_IDLE_SECONDS,
                    seed,
                )
            )
        except RedisError as error:
            raise CounterUnavailable from error

    async def areserve(
        self, api_key: ApiKey, amount: Decimal, cap: Decimal, *, forgotten=None, read_at: int | None = None
    ) -> str:
        """``reserve`` on the event loop's own connection; only seeding reads the database. With
        ``forgotten`` (a marker's name), a key whose marker exists is refused with ``KeyForgotten``.
        Where leases run (gateway.leases), what is left of this process's lease counts towards the
        request, a new lease is asked for on top, and what is granted beyond the request is kept."""
        now = timezone.now()
        month = _month(now)
        key = self.key(api_key, month)
        cap_micros, amount_micros = to_micros(cap), to_micros(amount)
        rest = leases.take_rest(key, cap=cap_micros) if leases.running() else 0
        need = max(amount_micros - rest, 0)
        extra = amount_micros * leases.LEASE_REQUESTS if leases.live() else 0
        ask = {"forgotten": forgotten, "extra": extra}
        granted = -1
        try:
            granted = await self._areserve(key, need, cap_micros, seed="", **ask)
            if granted == -2:
                seed = str(to_micros(await sync_to_async(self._committed)(api_key, now)))
                granted = await self._areserve(key, need, cap_micros, seed=seed, **ask)
        finally:
            surplus = rest + granted - amount_micros if granted >= 0 else rest
            leases.keep(key, key_hash=api_key.key_hash, cap=cap_micros, amount=surplus, read_at=read_at)
        if granted == -3:
            raise KeyForgotten
        # Grants made meanwhile for this process's other requests may have left enough in its lease:
        # the cap is refused only once neither Redis nor the lease has room.
        if granted < 0 and not leases.take(key, cap=cap_micros, amount=amount_micros):
            raise SpendCapExceeded(cap, worst_case=amount, left=await self.aleft(key, cap_micros))
        return month

    # What the cap has left, for the refusal's message only (never for a decision): the cap less the
    # counter, which holds the committed spend, the holds of requests in progress and every process's
    # lease, plus this process's own lease, which its requests may still hold from. None when Redis
    # cannot say: the message then names both reasons.

    def left(self, api_key: ApiKey, month: str, cap: Decimal) -> Decimal | None:
        try:
            value = self.client().get(self.key(api_key, month))
        except RedisError:
            return None
        return None if value is None else from_micros(to_micros(cap) - int(value))

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

    async def _areserve(self, key: str, amount: int, cap: int, *, seed: str, forgotten, extra: int) -> int:
        arguments = (amount, cap, COUNTER_IDLE_SECONDS, seed, extra)
        try:
            return int(await async_client().eval(_RESERVE, 2, key, forgotten or "", *arguments))
        except RedisError as error:
            raise CounterUnavailable from error

    async def arelease(
        self, api_key: ApiKey, reservation: str, amount: Decimal, *, recorded: Decimal
    ) -> None:
        try:
            await async_client().eval(
                _ADJUST, 1, self.key(api_key, reservation), to_micros(recorded - amount)
            )
        except RedisError as error:
            raise CounterUnavailable from error

    def release(self, api_key: ApiKey, reservation: str, amount: Decimal, *, recorded: Decimal) -> None:
        # The reservation is the month it was taken in: the hold comes off that month's counter, and
        # the recorded cost goes on it (the database put it in the month the usage was recorded in,
        # which is the same month unless the request straddled midnight on the 1st).
        try:
            self.client().eval(_ADJUST, 1, self.key(api_key, reservation), to_micros(recorded - amount))
        except RedisError as error:
            raise CounterUnavailable from error


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
