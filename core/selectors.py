"""The dashboard's overview: reads across billing, the gateway's request log and the keys, each one
statement whatever the number of rows, so the page's cost does not grow with the organization's usage."""

import datetime
from decimal import Decimal

from django.db.models import BigIntegerField, F
from django.db.models.functions import Cast, Round
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.selectors import keys_visible_to
from billing import selectors as billing
from billing.models import Tier
from core.months import month_start
from gateway.models import RequestLog
from gateway.selectors import request_totals

CHART_DAYS = 14
TOP_MODELS = 5
NEAR_CAP_PCT = 80
NEAR_CAP_SHOWN = 10
MICROS_PER_CENT = 10_000
# Under this balance (or under the organization's own low-balance alert) the dashboard warns.
LOW_BALANCE_USD = Decimal("5.00")


def requests_last_24_hours(organization) -> dict:
    """The request log's totals over the last 24 hours: requests, errors and the error rate."""
    since = timezone.now() - datetime.timedelta(hours=24)
    return request_totals(RequestLog.objects.filter(organization=organization, created_at__gte=since))


def keys_near_cap(membership) -> list[ApiKey]:
    """Active keys the member can see whose month-to-date spend is at least 80% of their cap.

    Compared in whole numbers, so SQLite (which keeps decimals as floats) is exact too: the spend is
    stored in micro-dollars and a cap has at most 2 decimals, so 80% of it is cents × 8,000 micro-dollars.
    """
    now = timezone.now()
    month = month_start(now)
    cap_cents = Cast(Round(F("monthly_spend_cap_usd") * 100), BigIntegerField())
    return list(
        keys_visible_to(membership)
        .filter(revoked_at__isnull=True, monthly_spend_cap_usd__isnull=False, spend_month=month)
        .exclude(expires_at__lte=now)
        .alias(cap_cents=cap_cents)
        .filter(spend_month_to_date_usd__gte=F("cap_cents") * (MICROS_PER_CENT * NEAR_CAP_PCT // 100))
        .order_by("-spend_month_to_date_usd", "id")[:NEAR_CAP_SHOWN]
    )


def dashboard_overview(membership) -> dict:
    organization = membership.organization
    account = billing.account_with_plan(organization)
    threshold = account.low_balance_threshold_usd
    low_balance = account.balance_usd < (threshold if threshold is not None else LOW_BALANCE_USD)
    usage = billing.usage_by_day(organization, days=CHART_DAYS)
    top_models = billing.usage_by_model(organization, days=CHART_DAYS)[:TOP_MODELS]
    for row in top_models:
        row["tier_label"] = Tier(row["tier"]).label
    months = billing.usage_months(organization)
    return {
        "account": account,
        "low_balance": low_balance,
        "low_balance_line": threshold if threshold is not None else LOW_BALANCE_USD,
        "months": months,
        "last_day": requests_last_24_hours(organization),
        "usage": usage,
        "top_models": top_models,
        "keys_near_cap": keys_near_cap(membership),
        "has_keys": keys_visible_to(membership).exists(),
    }
