from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from orgs.selectors import active_membership

from .selectors import feedback_summary, latest_comments

PERIODS = (7, 30, 90)
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 720, 180, 40, 22


def _chart(by_day: list[dict]) -> dict:
    """Positive above, negative below a middle line, one pair of bars per day, drawn on the server."""
    peak = max((max(day["positive"], day["negative"]) for day in by_day), default=0) or 1
    middle = (CHART_HEIGHT - CHART_BOTTOM) / 2
    slot = (CHART_WIDTH - CHART_LEFT) / max(len(by_day), 1)
    bars = []
    for index, day in enumerate(by_day):
        x = CHART_LEFT + index * slot + slot * 0.15
        up = day["positive"] / peak * (middle - 4)
        down = day["negative"] / peak * (middle - 4)
        bars.append(
            {
                "x": round(x, 1),
                "width": round(slot * 0.7, 1),
                "up_y": round(middle - up, 1),
                "up": round(up, 1),
                "down": round(down, 1),
                "date": day["date"],
                "positive": day["positive"],
                "negative": day["negative"],
            }
        )
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "middle": middle,
        "left": CHART_LEFT,
        "bars": bars,
        "peak": peak,
    }


@login_required
def feedback_page(request):
    organization = active_membership(request).organization
    raw = request.GET.get("days", "30")
    days = int(raw) if raw.isdigit() and int(raw) in PERIODS else 30
    summary = feedback_summary(organization, days=days)
    return render(
        request,
        "feedback/feedback.html",
        {
            "summary": summary,
            "days": days,
            "periods": PERIODS,
            "chart": _chart(summary["by_day"]),
            "comments": latest_comments(organization),
        },
    )
