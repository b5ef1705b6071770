"""Admission: may this key spend on this request, and holding the request's worst case against its cap.

``assess`` refuses an organization that cannot pay and prices the worst case (``max_cost``) from the
snapshots; ``areserve`` holds it from this process's lease or on the key's spend counter; ``Hold`` is
settled at the real cost on every way out. See gateway/ARCHITECTURE.md.
"""

import dataclasses
import datetime
import json
import uuid
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from apikeys.models import ApiKey
from billing import pricing
from billing.models import BillingAccount, Plan
from billing.services import account_for
from core.errors import ServiceError
from core.money import to_micros
from orgs.models import Organization

from . import key_changes, leases, routing, snapshots, spend_counters
from .admission_errors import KeyChanged
from .routing import Route


class InsufficientBalance(ServiceError):
    status = 402

    def __init__(self):
        super().__init__(
            "Your organization's balance is used up. Top up on the Billing page to continue.",
            code="insufficient_balance",
        )


@dataclasses.dataclass(frozen=True)
class AccountView:
    """What admission and recording read of the organization's billing account (gateway.snapshots)."""

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

    return snapshots.get(("account", organization_id), load)


def balance_moved(organization_id: str, view: AccountView, balance: Decimal) -> None:
    """The database answered with the balance after a recording: keep it, unless this process kept a
    lower one meanwhile (two recordings answer in either order; a rise comes with a clear)."""

    def lower(kept: AccountView) -> AccountView:
        if kept.plan.pk != view.plan.pk or kept.balance <= balance:
            return kept
        return dataclasses.replace(kept, balance=balance)

    snapshots.update(("account", organization_id), lower)


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
    snapshots when they are warm (gateway.snapshots); the hold is taken by ``reserve``."""
    view = account_view(api_key.organization_id)
    if view.balance <= 0:
        raise InsufficientBalance
    size = len(json.dumps([body.get("messages"), body.get("tools")], ensure_ascii=False).encode())
    worst = max_cost(plan=view.plan, route=route, messages_bytes=size, max_tokens=body.get("max_tokens"))
    return Admission(view=view, max_cost=worst, prompt_bytes=size)


async def areserve(
    api_key: ApiKey, admission: Admission, *, check_key_changed: bool = True, read_at: int | None = None
) -> None:
    """Holds the request's worst case against the key's cap: with Redis, from this process's lease
    when it has one (gateway.leases), else in one call from the event loop which, unless told
    otherwise, also refuses with ``KeyChanged`` a key some process changed (gateway.key_changes);
    without Redis, the database counter in a thread. ``read_at``: ``key_changes.epoch()`` from
    before the key was read."""
    cap = api_key.monthly_spend_cap_usd
    # Every key changed anywhere before the key was read is dropped here: no marker to check.
    caught_up = read_at is not None and await key_changes.caught_up(since=read_at)
    check = bool(settings.REDIS_URL) and check_key_changed
    if cap is None:
        if check and not caught_up and await key_changes.changed_recently(api_key.key_hash):
            raise KeyChanged
        return
    if settings.REDIS_URL:
        month = _month(timezone.now())
        key = spend_counters.counter_key(api_key, month)
        cap_micros, amount = to_micros(cap), to_micros(admission.max_cost)
        holder = leases.take(key, cap=cap_micros, amount=amount) if caught_up else None
        # Another request of the key is asking for a lease right now: wait for it (one round trip)
        # rather than ask for a second one beside it.
        if (
            holder is None
            and caught_up
            and await leases.grant_landed(key)
            and await key_changes.caught_up(since=read_at)
        ):
            holder = leases.take(key, cap=cap_micros, amount=amount)
        if holder is not None:
            admission.reservation, admission.holder, admission.leased = month, holder, True
            return
        admission.reservation, admission.holder = await spend_counters.redis_reserve(
            api_key,
            admission.max_cost,
            cap,
            changed_marker=key_changes.marker_key(api_key.key_hash) if check else "",
            read_at=read_at,
        )
        admission.leased = leases.running()
    else:
        reserve = sync_to_async(spend_counters.database_reserve)
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
        await sync_to_async(spend_counters.database_release)(admission.reservation)
        return
    key = spend_counters.counter_key(api_key, admission.reservation)
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

    snapshots.update(("account", organization_id), lower)


def settlement(api_key: ApiKey, admission: Admission, cost: Decimal) -> tuple[str, str, int, int, str] | None:
    """What settles the hold at ``cost`` inside another Redis script (gateway.journal): the key's
    counter, the holder, what comes off its holdings and what is spent, in micro-dollars, and the
    settlement's id (the same if it is sent again: it is made once); None when nothing is held in
    Redis. A hold from a lease still gives the rest back to the lease (``asettle(in_redis=True)``)."""
    if admission.reservation is None or not settings.REDIS_URL or admission.holder is None:
        return None
    release, spend = _redis_settlement(admission, cost)
    counter = spend_counters.counter_key(api_key, admission.reservation)
    return counter, admission.holder, release, spend, admission.settlement_id


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


def _month(now: datetime.datetime) -> str:
    return spend_counters.month(now)
