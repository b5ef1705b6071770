"""The usage charts (Usage page, dashboard): daily cost, requests or tokens stacked by tier."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from core.charts import Series, column_chart, compact_number, day_categories
from core.money import format_usd_exact

from .models import Tier

TIER_SERIES = [
    Series(Tier.FAST, Tier.FAST.label, "series-1"),
    Series(Tier.BALANCED, Tier.BALANCED.label, "series-2"),
    Series(Tier.PASSTHROUGH, Tier.PASSTHROUGH.label, "series-3"),
    Series(Tier.BYOK, Tier.BYOK.label, "series-4"),
]
METRICS = {
    "cost": _("Cost"),
    "requests": _("Requests"),
    "tokens": _("Tokens"),
}


def dollars(amount) -> str:
    return f"${format_usd_exact(Decimal(amount))}"


def dollars_tick(amount) -> str:
    return f"${compact_number(amount)}" if amount >= 1000 else dollars(amount)


def format_count(count) -> str:
    return f"{int(count):,}"


def _value(totals: dict, metric: str):
    if metric == "cost":
        return totals["cost_usd"]
    if metric == "requests":
        return totals["requests"]
    return totals["prompt_tokens"] + totals["completion_tokens"]


def usage_chart(days: list[dict], *, metric: str = "cost") -> dict:
    """One column a day (``billing.selectors.usage_by_day``'s days), stacked by tier."""
    return column_chart(
        categories=day_categories(day["date"] for day in days),
        series=TIER_SERIES,
        values=[{tier: _value(values, metric) for tier, values in day["by_tier"].items()} for day in days],
        format_value=dollars if metric == "cost" else format_count,
        format_tick=dollars_tick if metric == "cost" else compact_number,
        whole=metric != "cost",
    )
