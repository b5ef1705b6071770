import datetime
from decimal import Decimal

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.money import quantize

from .models import Feedback

RATE_PLACES = 4


def positive_rate(positive: int, total: int) -> Decimal | None:
    return quantize(Decimal(positive) / Decimal(total), RATE_PLACES) if total else None


def feedback_summary(organization, *, days: int) -> dict:
    """Totals, the positive rate, and counts by tag, by model and by day (UTC, every day present)."""
    today = timezone.now().astimezone(datetime.UTC).date()
    since = today - datetime.timedelta(days=days - 1)
    window = Feedback.objects.filter(organization=organization, updated_at__date__gte=since)
    counts = {"positive": Count("pk", filter=Q(rating=1)), "negative": Count("pk", filter=Q(rating=-1))}
    totals = window.aggregate(**counts)
    by_model = list(window.values("model").annotate(**counts).order_by("model"))
    by_day = {
        row["day"]: row
        for row in window.annotate(day=TruncDate("updated_at", tzinfo=datetime.UTC))
        .values("day")
        .annotate(**counts)
        .order_by("day")
    }
    by_tag: dict[str, int] = {}
    for tags in window.values_list("tags", flat=True):
        for tag in tags:
            by_tag[tag] = by_tag.get(tag, 0) + 1
    total = totals["positive"] + totals["negative"]
    return {
        "days": days,
        "total": total,
        "positive": totals["positive"],
        "negative": totals["negative"],
        "positive_rate": positive_rate(totals["positive"], total),
        "by_tag": dict(sorted(by_tag.items(), key=lambda item: (-item[1], item[0]))),
        "by_model": [
            {**row, "positive_rate": positive_rate(row["positive"], row["positive"] + row["negative"])}
            for row in by_model
        ],
        "by_day": [
            {
                "date": day,
                "positive": by_day.get(day, {}).get("positive", 0),
                "negative": by_day.get(day, {}).get("negative", 0),
            }
            for day in (since + datetime.timedelta(days=offset) for offset in range(days))
        ],
    }


def latest_comments(organization, *, limit: int = 20):
    return (
        Feedback.objects.filter(organization=organization)
        .exclude(comment="")
        .select_related("user", "generation")
        .order_by("-updated_at")[:limit]
    )


def model_feedback_by_organization(*, window_days: int = 30, models=None) -> list[tuple[str, str, int, int]]:
    """Per served model and organization, ``(model, organization id, positive, negative)`` ratings over
    the last ``window_days`` days: what the router's ratings are made of (gateway.router)."""
    since = timezone.now() - datetime.timedelta(days=window_days)
    rows = Feedback.objects.filter(updated_at__gte=since)
    if models is not None:
        rows = rows.filter(model__in=list(models))
    return [
        (row["model"], row["organization_id"], row["positive"], row["negative"])
        for row in rows.values("model", "organization_id")
        .annotate(positive=Count("pk", filter=Q(rating=1)), negative=Count("pk", filter=Q(rating=-1)))
        .order_by()
    ]


def model_feedback_counts(*, window_days: int = 30, models=None) -> dict[str, tuple[float, float]]:
    """Per served model, (positive, negative) ratings over the last ``window_days`` days, across all
    organizations, each organization counting for at most ``gateway.router.ORGANIZATION_WEIGHT``
    ratings of a model (its own scaled down to that, keeping its mix): the feedback the router reads,
    bounded as it bounds it."""
    from gateway.router import bounded, organization_weight

    rows = model_feedback_by_organization(window_days=window_days, models=models)
    return bounded(
        ((model, positive, negative) for model, _organization, positive, negative in rows),
        weight=organization_weight(),
    )
