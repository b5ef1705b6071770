"""Each model's ratings, across all organizations: the positive rate of its feedback, and its median
latency, error rate and output speed from the request log, over the last ``WINDOW_DAYS`` days.

``ratings_refresh`` computes them into ``ModelRating`` (the hourly job, gateway.tasks); the library
pages and GET /v1/models only read that table.

What may be published. A rating is meant to say how a model does for everyone, never how it does
for one customer, so a figure is stored (and shown) only when the rows behind it are

* at least ``MIN_COUNT`` (20 ratings; 20 requests for the request-log figures),
* from at least ``MIN_ORGANIZATIONS`` (3) distinct organizations, and
* no organization gave more than ``MAX_SHARE`` (half) of them,

so that neither one organization alone nor one that dwarfs the others can be read from it. Below
that the figure is null; its count is null too (a count alone would tell an organization's volume).
"""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from core.money import quantize
from feedback.models import Feedback

from .models import GatewayModel, ModelRating, RequestLog, RequestStatus

WINDOW_DAYS = 30
MIN_COUNT = 20
MIN_ORGANIZATIONS = 3
MAX_SHARE = Decimal("0.5")
RATE_PLACES = 3
# The request-log figures count what reached a provider: refusals (the caller's balance, cap or rate
# limit) and requests the client gave up on say nothing about the model.
ATTEMPTED = [RequestStatus.COMPLETED, RequestStatus.INCOMPLETE, RequestStatus.FAILED]


def publishable(counts_by_organization: dict) -> bool:
    """Whether figures drawn from rows counted per organization (``{organization id: rows}``) may be
    published: enough rows, from enough organizations, none of which dominates."""
    total = sum(counts_by_organization.values())
    if total < MIN_COUNT or len(counts_by_organization) < MIN_ORGANIZATIONS:
        return False
    return max(counts_by_organization.values()) <= MAX_SHARE * total


def _counts_by_model(queryset) -> dict[str, dict]:
    """``{model: {organization id: rows}}`` of ``queryset``, in one grouped query."""
    counts: dict[str, dict] = defaultdict(dict)
    for row in queryset.values("model", "organization_id").annotate(rows=Count("pk")).order_by():
        counts[row["model"]][row["organization_id"]] = row["rows"]
    return counts


def _median_latency(recent, model: str, completed: int) -> int | None:
    if not completed:
        return None
    latencies = list(
        recent.filter(model=model, status=RequestStatus.COMPLETED)
        .order_by("latency_ms")
        .values_list("latency_ms", flat=True)[(completed - 1) // 2 : completed // 2 + 1]
    )
    return round(sum(latencies) / len(latencies))


def ratings_compute(*, now: datetime.datetime | None = None) -> dict[str, dict]:
    """Every publishable figure, by model id: ``{model: {field: value}}`` with ModelRating's fields;
    a figure that may not be published is None. Reads a few grouped queries plus one per model with
    requests (its median latency)."""
    now = now or timezone.now()
    since = now - datetime.timedelta(days=WINDOW_DAYS)
    figures: dict[str, dict] = defaultdict(
        lambda: {
            "positive_rate": None,
            "ratings": None,
            "p50_latency_ms": None,
            "error_rate": None,
            "output_tokens_per_second": None,
            "requests": None,
        }
    )

    feedback = Feedback.objects.filter(updated_at__gte=since)
    feedback_by_organization = _counts_by_model(feedback)
    positive = feedback.filter(rating=1).values("model").annotate(rows=Count("pk")).order_by()
    positives = {row["model"]: row["rows"] for row in positive}
    for model, by_organization in feedback_by_organization.items():
        if not publishable(by_organization):
            continue
        total = sum(by_organization.values())
        figures[model]["ratings"] = total
        figures[model]["positive_rate"] = quantize(Decimal(positives.get(model, 0)) / total, RATE_PLACES)

    recent = RequestLog.objects.filter(created_at__gte=since, status__in=ATTEMPTED).exclude(model="")
    requests_by_organization = _counts_by_model(recent)
    # Speed is read from answers that took time and gave tokens (a cached or empty one says nothing).
    timed = Q(status=RequestStatus.COMPLETED, latency_ms__gt=0, completion_tokens__gt=0)
    totals = {
        row["model"]: row
        for row in recent.values("model")
        .annotate(
            failed=Count("pk", filter=Q(status=RequestStatus.FAILED)),
            completed=Count("pk", filter=Q(status=RequestStatus.COMPLETED)),
            tokens=Sum("completion_tokens", filter=timed),
            milliseconds=Sum("latency_ms", filter=timed),
        )
        .order_by()
    }
    for model, by_organization in requests_by_organization.items():
        if not publishable(by_organization):
            continue
        row = totals[model]
        total = sum(by_organization.values())
        figures[model]["requests"] = total
        figures[model]["error_rate"] = quantize(Decimal(row["failed"]) / total, RATE_PLACES)
        figures[model]["p50_latency_ms"] = _median_latency(recent, model, row["completed"])
        if row["milliseconds"]:
            figures[model]["output_tokens_per_second"] = quantize(
                Decimal(row["tokens"]) * 1000 / Decimal(row["milliseconds"]), 1
            )
    return dict(figures)


@transaction.atomic
def ratings_refresh(*, now: datetime.datetime | None = None) -> int:
    """Recomputes every model's ratings into ModelRating: one row per model in the catalog, its
    figures null where there is too little to publish. Safe to run twice or at once in two workers
    (each writes the same rows). Returns the number of models with a published figure."""
    now = now or timezone.now()
    figures = ratings_compute(now=now)
    empty = dict.fromkeys(
        ["positive_rate", "ratings", "p50_latency_ms", "error_rate", "output_tokens_per_second", "requests"]
    )
    models = dict(GatewayModel.objects.values_list("public_id", "pk"))
    existing = {rating.model_id: rating for rating in ModelRating.objects.all()}
    to_create, to_update = [], []
    for public_id, pk in models.items():
        values = {**empty, **figures.get(public_id, {}), "window_days": WINDOW_DAYS, "computed_at": now}
        rating = existing.get(pk)
        if rating is None:
            to_create.append(ModelRating(model_id=pk, **values))
        else:
            for field, value in values.items():
                setattr(rating, field, value)
            to_update.append(rating)
    ModelRating.objects.bulk_create(to_create, ignore_conflicts=True)
    ModelRating.objects.bulk_update(to_update, [*empty, "window_days", "computed_at"], batch_size=500)
    return sum(1 for public_id in models if any(v is not None for v in figures.get(public_id, {}).values()))
