from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from core.charts import Series, column_chart, compact_number, day_categories
from orgs.selectors import active_membership

from .selectors import feedback_summary, latest_comments

PERIODS = (7, 30, 90)
RATING_SERIES = [Series("positive", _("Positive"), "positive"), Series("negative", _("Negative"), "negative")]


def percent(rate: Decimal | None) -> str:
    return "—" if rate is None else f"{(rate * 100).quantize(Decimal('0.1'))}%"


def ratings_chart(by_day: list[dict]) -> dict:
    """Positive and negative ratings stacked per UTC day."""
    return column_chart(
        categories=day_categories(day["date"] for day in by_day),
        series=RATING_SERIES,
        values=by_day,
        format_value=lambda count: f"{int(count):,}",
        format_tick=compact_number,
        whole=True,
    )


@login_required
def feedback_page(request):
    organization = active_membership(request).organization
    raw = request.GET.get("days", "30")
    days = int(raw) if raw in {str(period) for period in PERIODS} else 30  # not isdigit(): "²" is a digit
    summary = feedback_summary(organization, days=days)
    for row in summary["by_model"]:
        row["positive_percent"] = percent(row["positive_rate"])
    return render(
        request,
        "feedback/feedback.html",
        {
            "summary": summary,
            "positive_percent": percent(summary["positive_rate"]),
            "days": days,
            "periods": PERIODS,
            "chart": ratings_chart(summary["by_day"]),
            "comments": latest_comments(organization),
        },
    )
