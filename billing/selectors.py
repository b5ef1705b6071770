"""Reads of billing data. Usage reads sum the daily roll-up plus the records not rolled up yet, in
one statement, so their cost does not grow with the number of raw records and they never count a
record twice or miss one while the roll-up runs."""

import datetime
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from core.errors import ServiceError
from core.money import CENTS, quantize
from core.months import month_start, previous_month
from core.pagination import Page
from orgs.permissions import Action, require

from . import pricing
from .models import BillingAccount, DailyUsage, EntryKind, LedgerEntry, ModelPrice, Plan, Tier
from .rollup import records_not_rolled_up
from .services import PlanChangeQuote, account_for, plan_change_quote, plan_change_target

HINT_DAYS = 30
HINT_MINIMUM_SAVING_PCT = Decimal(10)


def today_utc() -> datetime.date:
    return timezone.now().astimezone(datetime.UTC).date()


def account_with_plan(organization) -> BillingAccount:
    account_for(organization)
    return BillingAccount.objects.select_related("plan").get(organization=organization)


def ledger_of(organization) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(organization=organization)


def _usage_rows(
    organization,
    since: datetime.date,
    group_by: tuple[str, ...],
    *,
    until: datetime.date | None = None,
    api_key_id: str | None = None,
    model: str | None = None,
):
    """Sums per ``group_by`` of the usage from ``since`` to ``until`` (both included), for one key
    or one served model when asked: the roll-up and the records not rolled up yet, in one statement."""
    narrowing = {"organization": organization, "day__gte": since}
    if until is not None:
        narrowing["day__lte"] = until
    if api_key_id is not None:
        narrowing["api_key_id"] = api_key_id
    if model is not None:
        narrowing["model"] = model
    rolled = (
        DailyUsage.objects.filter(**narrowing)
        .values(*group_by)
        .annotate(
            requests_sum=Sum("requests"),
            prompt_sum=Sum("prompt_tokens"),
            completion_sum=Sum("completion_tokens"),
            cost_sum=Sum("cost_usd"),
        )
        .order_by()
    )
    tail = (
        records_not_rolled_up()
        .filter(**narrowing)
        .values(*group_by)
        .annotate(
            requests_sum=Count("pk"),
            prompt_sum=Sum("prompt_tokens"),
            completion_sum=Sum("completion_tokens"),
            cost_sum=Sum("cost_usd"),
        )
        .order_by()
    )
    return rolled.union(tail, all=True)


def _empty_totals() -> dict:
    return {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": Decimal(0)}


def _add(into: dict, row: dict) -> None:
    into["requests"] += row["requests_sum"] or 0
    into["prompt_tokens"] += row["prompt_sum"] or 0
    into["completion_tokens"] += row["completion_sum"] or 0
    into["cost_usd"] += row["cost_sum"] or Decimal(0)


def usage_by_day(organization, *, days: int, api_key_id: str | None = None, model: str | None = None) -> dict:
    """``{"days": [...], "totals": {...}}`` for the last ``days`` days (UTC, today included), every
    day and every tier present, zeros included. Amounts are exact ``Decimal``s. ``api_key_id`` and
    ``model`` (the model that served) narrow it to one key or one model."""
    today = today_utc()
    since = today - datetime.timedelta(days=days - 1)
    per_day = {
        since + datetime.timedelta(days=offset): {
            **_empty_totals(),
            "by_tier": {tier: _empty_totals() for tier in Tier.values},
        }
        for offset in range(days)
    }
    totals = {**_empty_totals(), "by_tier": {tier: _empty_totals() for tier in Tier.values}}
    rows = _usage_rows(organization, since, ("day", "tier"), api_key_id=api_key_id, model=model)
    for row in rows:
        day = per_day.get(row["day"])
        if day is None:
            continue
        for bucket in (day, day["by_tier"][row["tier"]], totals, totals["by_tier"][row["tier"]]):
            _add(bucket, row)
    return {"days": [{"date": date, **values} for date, values in sorted(per_day.items())], "totals": totals}


def usage_by_model(
    organization, *, days: int, api_key_id: str | None = None, model: str | None = None
) -> list[dict]:
    """Per tier and model over the last ``days`` days, costliest first."""
    since = today_utc() - datetime.timedelta(days=days - 1)
    merged: dict[tuple[str, str], dict] = {}
    for row in _usage_rows(organization, since, ("tier", "model"), api_key_id=api_key_id, model=model):
        bucket = merged.setdefault(
            (row["tier"], row["model"]), {"tier": row["tier"], "model": row["model"], **_empty_totals()}
        )
        _add(bucket, row)
    return sorted(merged.values(), key=lambda bucket: (-bucket["cost_usd"], bucket["model"]))


def usage_models(organization, *, days: int) -> list[str]:
    """The models that served the organization in the last ``days`` days, for the Usage filter."""
    since = today_utc() - datetime.timedelta(days=days - 1)
    return sorted({row["model"] for row in _usage_rows(organization, since, ("model",))})


def usage_months(organization) -> dict:
    """This month's spend so far and last month's whole, in one statement: ``{"this_month",
    "last_month"}`` (exact ``Decimal``s)."""
    today = today_utc()
    this_month = month_start(today)
    last_month = previous_month(this_month)
    totals = {this_month: Decimal(0), last_month: Decimal(0)}
    for row in _usage_rows(organization, last_month, ("day",), until=today):
        month = month_start(row["day"])
        if month in totals:
            totals[month] += row["cost_sum"] or Decimal(0)
    return {"this_month": totals[this_month], "last_month": totals[last_month]}


def upgrade_hint(organization) -> dict | None:
    """The cheapest plan for the last 30 days' usage, when it saves at least 10% over the current one.

    Each plan is priced as its monthly fee plus the same tokens at its rates.
    """
    usage = usage_by_model(organization, days=HINT_DAYS)
    if not usage or not any(bucket["requests"] for bucket in usage):
        return None
    account = account_with_plan(organization)
    list_prices = {
        price.model: price for price in ModelPrice.objects.filter(model__in={b["model"] for b in usage})
    }

    # A model whose list price was removed cannot be priced; its usage is left out of the comparison.
    usage = [
        bucket
        for bucket in usage
        if bucket["tier"] in (Tier.FAST, Tier.BALANCED) or bucket["model"] in list_prices
    ]

    def monthly_cost(plan: Plan) -> Decimal:
        tokens_cost = sum(
            (
                pricing.cost(
                    plan=plan,
                    tier=bucket["tier"],
                    model=bucket["model"],
                    prompt_tokens=bucket["prompt_tokens"],
                    completion_tokens=bucket["completion_tokens"],
                    list_prices=list_prices,
                )
                for bucket in usage
            ),
            Decimal(0),
        )
        return plan.monthly_fee_usd + tokens_cost

    costs = {plan.id: (plan, monthly_cost(plan)) for plan in Plan.objects.all()}
    current_cost = costs[account.plan_id][1]
    best_plan, best_cost = min(costs.values(), key=lambda pair: (pair[1], pair[0].position))
    if best_plan.id == account.plan_id or current_cost <= 0:
        return None
    exact_pct = (current_cost - best_cost) * 100 / current_cost
    if exact_pct < HINT_MINIMUM_SAVING_PCT:  # compared exactly; rounded only to show it
        return None
    savings_pct = quantize(exact_pct, 1)
    return {
        "current_plan": account.plan_id,
        "recommend_plan": best_plan.id,
        "savings_pct": savings_pct,
        "estimated_monthly_savings_usd": quantize(current_cost - best_cost, CENTS),
        "based_on_days": HINT_DAYS,
    }


# --- The Billing page -----------------------------------------------------------------------------


def payments_of(organization) -> QuerySet[LedgerEntry]:
    """The organization's payments: every ledger entry but usage debits (top-ups, refunds, plan fees
    and credits, staff adjustments). The partial index ``ledger_payments_org_time`` lists them newest
    first without walking past the usage debits in between."""
    return LedgerEntry.objects.filter(organization=organization).exclude(kind=EntryKind.USAGE)


def usage_days_page(organization, *, limit: int, cursor: str | None) -> Page:
    """One page of the organization's usage per UTC day, newest first: ``{"date", "requests",
    "debited"}`` for each day that had usage, ``debited`` being the (negative) sum of that day's usage
    debits in the ledger, which are the usage records' costs one for one. Summed from the roll-up
    and the records not rolled up yet, in one statement; ``cursor`` is the last day of the page
    before."""
    narrowing = {"organization": organization}
    if cursor:
        narrowing["day__lt"] = _day_from_cursor(cursor)
    rolled = (
        DailyUsage.objects.filter(**narrowing)
        .values("day")
        .annotate(requests_sum=Sum("requests"), cost_sum=Sum("cost_usd"))
        .order_by()
    )
    tail = (
        records_not_rolled_up()
        .filter(**narrowing)
        .values("day")
        .annotate(requests_sum=Count("pk"), cost_sum=Sum("cost_usd"))
        .order_by()
    )
    # A day comes at most twice (its rolled-up part and the rest), so the first 2 × (limit + 1) rows
    # hold every row of the newest limit + 1 days: the page, and whether another follows.
    days: dict[datetime.date, dict] = {}
    for row in rolled.union(tail, all=True).order_by("-day")[: 2 * (limit + 1)]:
        day = days.setdefault(row["day"], {"date": row["day"], "requests": 0, "debited": Decimal(0)})
        day["requests"] += row["requests_sum"] or 0
        day["debited"] -= row["cost_sum"] or Decimal(0)
    newest = [days[date] for date in sorted(days, reverse=True)[: limit + 1]]
    has_more = len(newest) > limit
    items = newest[:limit]
    next_cursor = items[-1]["date"].isoformat() if has_more else None
    return Page(items=items, has_more=has_more, next_cursor=next_cursor)


def _day_from_cursor(cursor: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(cursor)
    except ValueError:
        raise ServiceError(
            "The cursor is not one this page gave out.", code="invalid_cursor", param="cursor"
        ) from None


def plan_change_preview(*, membership, plan_id) -> PlanChangeQuote:
    """What changing the organization to ``plan_id`` charges and credits now, for the confirmation
    page. ``services.plan_change`` makes the same quote again under the account's lock and goes ahead
    only if it is the one that was shown."""
    require(membership, Action.MANAGE_BILLING)
    account = account_with_plan(membership.organization)
    plan = plan_change_target(account=account, plan_id=plan_id)
    return plan_change_quote(account=account, plan=plan)
