"""Each model's ratings, across all organizations: the positive rate of its feedback, and its median
latency, error rate and output speed from the request log, over the last ``WINDOW_DAYS`` days.

``ratings_refresh`` computes them into ``ModelRating`` (the hourly job, gateway.tasks); the library
pages and GET /v1/models only read that table.

What may be published. A rating is meant to say how a model does for everyone, never how it does
for one customer. Each figure is computed only from the rows of the organizations that gave at least
``MIN_ROWS_PER_ORGANIZATION`` (5) of the rows that figure is made of (the others are left out of it),
and is published only when those rows are

* at least ``MIN_COUNT`` (20 ratings; 20 requests for the request-log figures),
* from at least ``MIN_ORGANIZATIONS`` (3) organizations, and
* such that the rows left after taking away the two organizations that gave the most are at least
  ``MIN_REST_SHARE`` (30%) of them,

so that one organization, or two together (one party can own several), cannot subtract its own rows
and be left with a third's: what remains is always a sizeable share that is not theirs. The rule is
applied to each figure's own rows: the error rate to the requests that reached a provider, the median
latency to the completed ones, the speed to the completed ones that took time and gave tokens.

What is published is blurred too: rates are rounded to a whole percent, the median latency to two
significant digits, the speed to a whole token per second, and the counts are published only as
the bucket they fall in (20+, 100+, 1,000+, 10,000+; the stored number is the bucket's floor). Below
the rule a figure is null, and its count with it.

This blunts subtraction; it is not differential privacy. A party that controls several organizations,
pays for enough traffic and watches the hourly refreshes can still narrow down what the others gave.
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
MIN_ROWS_PER_ORGANIZATION = 5
MIN_REST_SHARE = Decimal("0.3")
# Counts are published as the floor of the bucket they fall in: "20+", "100+", "1,000+", "10,000+".
COUNT_BUCKETS = (10_000, 1_000, 100, MIN_COUNT)
RATE_PLACES = 2
# The request-log figures count what reached a provider: refusals (the caller's balance, cap or rate
# limit) and requests the client gave up on say nothing about the model.
ATTEMPTED = [RequestStatus.COMPLETED, RequestStatus.INCOMPLETE, RequestStatus.FAILED]
FIELDS = ["positive_rate", "ratings", "p50_latency_ms", "error_rate", "output_tokens_per_second", "requests"]


def counted(counts_by_organization: dict) -> dict:
    """The organizations whose rows count towards a figure: those that gave at least
    ``MIN_ROWS_PER_ORGANIZATION`` of them (``{organization id: rows}``, the same shape)."""
    return {org: rows for org, rows in counts_by_organization.items() if rows >= MIN_ROWS_PER_ORGANIZATION}


def publishable(counts_by_organization: dict) -> bool:
    """Whether a figure drawn from rows counted per organization (``{organization id: rows}``, the
    counted organizations only) may be published: enough rows, from enough organizations, and a fair
    share of them left once the two largest organizations are taken away."""
    rows = sorted(counts_by_organization.values(), reverse=True)
    total = sum(rows)
    if total < MIN_COUNT or len(rows) < MIN_ORGANIZATIONS or min(rows) < MIN_ROWS_PER_ORGANIZATION:
        return False
    return total - rows[0] - rows[1] >= MIN_REST_SHARE * total


def bucket(count: int) -> int:
    """The floor of the bucket ``count`` falls in (``COUNT_BUCKETS``): 20, 100, 1,000 or 10,000."""
    return next(floor for floor in COUNT_BUCKETS if count >= floor)


def rate(part: int, total: int) -> Decimal:
    """``part`` over ``total`` rounded to a whole percent, as a fraction (0.65)."""
    return quantize(Decimal(part) / total, RATE_PLACES)


def two_significant_digits(value: int) -> int:
    """``value`` rounded to two significant digits (1234 → 1200, 87 → 87), halves up."""
    if value < 100:
        return value
    step = 10 ** (len(str(value)) - 2)
    return (value + step // 2) // step * step


def _grouped(queryset, **sums) -> dict[str, dict]:
    """``{model: {organization id: {name: value}}}`` of ``queryset``, in one grouped query."""
    grouped: dict[str, dict] = defaultdict(dict)
    for row in queryset.values("model", "organization_id").annotate(**sums).order_by():
        grouped[row.pop("model")][row.pop("organization_id")] = row
    return grouped


def _part(by_organization: dict, name: str) -> dict:
    """The counted organizations for the rows named ``name``: ``{organization id: rows}``."""
    return counted({org: row[name] for org, row in by_organization.items() if row[name]})


def _total(by_organization: dict, organizations, name: str) -> int:
    return sum(by_organization[org][name] or 0 for org in organizations)


def _median_latency(recent, model: str, organizations) -> int:
    completed = recent.filter(model=model, status=RequestStatus.COMPLETED, organization_id__in=organizations)
    count = completed.count()
    latencies = list(
        completed.order_by("latency_ms").values_list("latency_ms", flat=True)[
            (count - 1) // 2 : count // 2 + 1
        ]
    )
    return round(sum(latencies) / len(latencies))


def ratings_compute(*, now: datetime.datetime | None = None) -> dict[str, dict]:
    """Every publishable figure, by model id: ``{model: {field: value}}`` with ModelRating's fields;
    a figure that may not be published is None. Reads two grouped queries plus, per model whose
    latency is published, two for its median."""
    now = now or timezone.now()
    since = now - datetime.timedelta(days=WINDOW_DAYS)
    figures: dict[str, dict] = defaultdict(lambda: dict.fromkeys(FIELDS))

    feedback = _grouped(
        Feedback.objects.filter(updated_at__gte=since),
        rows=Count("pk"),
        positive=Count("pk", filter=Q(rating=1)),
    )
    for model, by_organization in feedback.items():
        organizations = _part(by_organization, "rows")
        if publishable(organizations):
            total = sum(organizations.values())
            figures[model]["ratings"] = bucket(total)
            figures[model]["positive_rate"] = rate(_total(by_organization, organizations, "positive"), total)

    recent = RequestLog.objects.filter(created_at__gte=since, status__in=ATTEMPTED).exclude(model="")
    # Speed is read from answers that took time and gave tokens (a cached or empty one says nothing).
    timed = Q(status=RequestStatus.COMPLETED, latency_ms__gt=0, completion_tokens__gt=0)
    requests = _grouped(
        recent,
        rows=Count("pk"),
        failed=Count("pk", filter=Q(status=RequestStatus.FAILED)),
        completed=Count("pk", filter=Q(status=RequestStatus.COMPLETED)),
        timed=Count("pk", filter=timed),
        tokens=Sum("completion_tokens", filter=timed),
        milliseconds=Sum("latency_ms", filter=timed),
    )
    for model, by_organization in requests.items():
        attempted = _part(by_organization, "rows")
        if publishable(attempted):
            total = sum(attempted.values())
            figures[model]["requests"] = bucket(total)
            figures[model]["error_rate"] = rate(_total(by_organization, attempted, "failed"), total)
        completed = _part(by_organization, "completed")
        if publishable(completed):
            figures[model]["p50_latency_ms"] = two_significant_digits(
                _median_latency(recent, model, completed)
            )
        speed = _part(by_organization, "timed")
        if publishable(speed):
            tokens = _total(by_organization, speed, "tokens")
            milliseconds = _total(by_organization, speed, "milliseconds")
            figures[model]["output_tokens_per_second"] = quantize(Decimal(tokens) * 1000 / milliseconds, 0)
    return dict(figures)


@transaction.atomic
def ratings_refresh(*, now: datetime.datetime | None = None) -> int:
    """Recomputes every model's ratings into ModelRating: one row per model in the catalog, its
    figures null where there is too little to publish. Safe to run twice or at once in two workers
    (each writes the same rows). Returns the number of models with a published figure."""
    now = now or timezone.now()
    figures = ratings_compute(now=now)
    empty = dict.fromkeys(FIELDS)
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
