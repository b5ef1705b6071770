"""Reads of billing data. Usage reads sum the daily roll-up plus the records not rolled up yet, in
one statement, so their cost does not grow with the number of raw records and they never count a
record twice or miss one while the roll-up runs."""

import datetime
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from core.money import CENTS, quantize

from . import pricing
from .models import BillingAccount, DailyUsage, LedgerEntry, ModelPrice, Plan, Tier
from .rollup import records_not_rolled_up
from .services import account_for

HINT_DAYS = 30
HINT_MINIMUM_SAVING_PCT = Decimal(10)


def today_utc() -> datetime.date:
    return timezone.now().astimezone(datetime.UTC).date()


def account_with_plan(organization) -> BillingAccount:
    account_for(organization)
    return BillingAccount.objects.select_related("plan").get(organization=organization)


def ledger_of(organization) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(organization=organization)


def _usage_rows(organization, since: datetime.date, group_by: tuple[str, ...]):
    rolled = (
        DailyUsage.objects.filter(organization=organization, day__gte=since)
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
        .filter(organization=organization, day__gte=since)
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


def usage_by_day(organization, *, days: int) -> dict:
    """``{"days": [...], "totals": {...}}`` for the last ``days`` days (UTC, today included), every
    day and every tier present, zeros included. Amounts are exact ``Decimal``s."""
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
    for row in _usage_rows(organization, since, ("day", "tier")):
        day = per_day.get(row["day"])
        if day is None:
            continue
        for bucket in (day, day["by_tier"][row["tier"]], totals, totals["by_tier"][row["tier"]]):
            _add(bucket, row)
    return {"days": [{"date": date, **values} for date, values in sorted(per_day.items())], "totals": totals}


def usage_by_model(organization, *, days: int) -> list[dict]:
    """Per tier and model over the last ``days`` days, costliest first."""
    since = today_utc() - datetime.timedelta(days=days - 1)
    merged: dict[tuple[str, str], dict] = {}
    for row in _usage_rows(organization, since, ("tier", "model")):
        bucket = merged.setdefault(
            (row["tier"], row["model"]), {"tier": row["tier"], "model": row["model"], **_empty_totals()}
        )
        _add(bucket, row)
    return sorted(merged.values(), key=lambda bucket: (-bucket["cost_usd"], bucket["model"]))


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
