"""What the gateway's pages read: the organization's request log, one request with its feedback, the
totals of a filtered log, a key's refusals of the month, the names the Requests page shows, and the
model library (GET /v1/models)."""

import dataclasses
import datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from billing import pricing
from billing.models import ModelPrice, UsageRecord
from feedback.models import Feedback

from .errors import explain, explain_for_key
from .models import (
    GatewayModel,
    ModelRating,
    OrganizationProviderKey,
    PoolTier,
    Provider,
    RequestLog,
    RequestStatus,
)


def requests_of_organization(*, organization) -> QuerySet[RequestLog]:
    """Every request the organization made, served, refused or failed, with its key joined in."""
    return RequestLog.objects.filter(organization=organization).select_related("api_key")


def request_of_organization(*, organization, generation_id: str) -> RequestLog | None:
    return requests_of_organization(organization=organization).filter(id=generation_id).first()


def feedback_on_request(*, organization, logged: RequestLog) -> tuple[bool, QuerySet[Feedback]]:
    """Whether the request was served (it has a usage record, which feedback points to), and the
    feedback on it, newest first."""
    served = UsageRecord.objects.filter(organization=organization, id=logged.id).exists()
    if not served:
        return False, Feedback.objects.none()
    feedback = (
        Feedback.objects.filter(organization=organization, generation_id=logged.id)
        .select_related("user")
        .order_by("-updated_at")
    )
    return True, feedback


def provider_names() -> dict[str, str]:
    """Each provider's display name by its id (a request log keeps the id)."""
    return dict(Provider.objects.values_list("id", "name"))


def known_models() -> list[str]:
    """What the Requests page's model filter suggests: the pools, then every model served."""
    pools = [tier.label for tier in PoolTier]
    return pools + list(GatewayModel.objects.filter(enabled=True).values_list("public_id", flat=True))


def request_totals(requests: QuerySet[RequestLog]) -> dict:
    """The totals of ``requests`` (every row the filters let through, not a page of them) in one
    aggregate statement: requests, tokens in and out, cost, and the share answered with an error
    (an HTTP status of 400 or more, as the dashboard counts them), in percent to one decimal."""
    totals = requests.order_by().aggregate(
        requests=Count("pk"),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
        cost_usd=Sum("cost_usd"),
        errors=Count("pk", filter=Q(http_status__gte=400)),
    )
    count = totals["requests"]
    prompt_tokens, completion_tokens = totals["prompt_tokens"] or 0, totals["completion_tokens"] or 0
    return {
        "requests": count,
        "tokens": prompt_tokens + completion_tokens,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": totals["cost_usd"] or Decimal(0),
        "errors": totals["errors"],
        "error_rate": (Decimal(totals["errors"]) * 100 / count).quantize(Decimal("0.1")) if count else None,
    }


def _cap_reached(api_key, now: datetime.datetime) -> bool | None:
    """Whether the key's spend this month has reached its cap; None for a key without a cap."""
    cap = api_key.monthly_spend_cap_usd
    return None if cap is None else api_key.month_to_date_spend(now) >= cap


def explanation_of_request(logged: RequestLog, *, now: datetime.datetime | None = None) -> str:
    """What the request's error code means, for its page: for a spend cap refusal of this month, said
    knowing whether the key's cap is reached (gateway.errors); empty for a request without one."""
    if not logged.error_code:
        return ""
    now = now or timezone.now()
    if _month(logged.created_at) != _month(now):
        return explain(logged.error_code)
    return explain_for_key(logged.error_code, cap_reached=_cap_reached(logged.api_key, now))


def _month(moment: datetime.datetime) -> tuple[int, int]:
    moment = moment.astimezone(datetime.UTC)
    return moment.year, moment.month


def refusals_of_key_this_month(*, api_key, now: datetime.datetime | None = None) -> list[dict]:
    """The key's requests refused this calendar month (UTC), counted per error code in one aggregate
    statement, most frequent first, each with the sentence that explains it to the key's owner:
    ``[{"code", "count", "explanation"}]``."""
    now = now or timezone.now()
    month_start = now.astimezone(datetime.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = (
        RequestLog.objects.filter(
            organization_id=api_key.organization_id,
            api_key_id=api_key.pk,
            status=RequestStatus.REFUSED,
            created_at__gte=month_start,
        )
        .values("error_code")
        .annotate(count=Count("pk"))
        .order_by("-count", "error_code")
    )
    cap_reached = _cap_reached(api_key, now)
    return [
        {
            "code": row["error_code"],
            "count": row["count"],
            "explanation": explain_for_key(row["error_code"], cap_reached=cap_reached),
        }
        for row in rows
    ]


# --- The model library (GET /v1/models) ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LibraryEntry:
    """A model as a caller sees it: a real model id, or a pool (``nexevo/fast``, ``nexevo/balanced``)
    over the candidates the caller's policy allows. Prices are per million tokens at the caller's plan,
    as billing.pricing charges them."""

    id: str
    name: str
    owned_by: str
    created: datetime.datetime | None
    provider: str | None  # None for a pool
    region: str | None  # None for a pool
    available: bool  # whether a request to it can be served now
    context_length: int | None  # a pool's: the shortest of its candidates'; None without any
    max_output_tokens: int | None
    tier: str
    input_per_million_usd: Decimal
    output_per_million_usd: Decimal
    capabilities: dict[str, bool]  # a pool's: what every one of its candidates has
    pools: list[str]
    candidates: list[str] | None  # a pool's candidates under the policy; None for a real model id
    # What the hourly job (gateway.ratings) published for it; None for a pool, or before any is.
    rating: ModelRating | None = None


CAPABILITY_FIELDS = {
    "tools": "supports_tools",
    "vision": "supports_vision",
    "json_mode": "supports_json_mode",
    "reasoning": "supports_reasoning",
}


def models_in_regions(regions) -> QuerySet[GatewayModel]:
    """Every model switched on whose provider is in ``regions``, with its provider, ratings and pools."""
    return (
        GatewayModel.objects.filter(enabled=True, provider__region__in=list(regions))
        .select_related("provider", "rating")
        .prefetch_related("pools")
        .order_by("public_id")
    )


def model_library(*, organization, regions, plan) -> list[LibraryEntry]:
    """The pools, then every model switched on in ``regions`` (a key's routing policy), priced under
    ``plan`` for ``organization`` (``byok`` where it keeps its own key for the provider; no
    organization, a visitor who is not signed in: none). Four queries whatever the number of models."""
    models = list(models_in_regions(regions))
    prices = {price.model: price for price in ModelPrice.objects.all()}  # a few hundred rows at most
    own_keys = set()
    if organization is not None:
        own_keys = set(
            OrganizationProviderKey.objects.filter(organization=organization).values_list(
                "provider_id", flat=True
            )
        )
    by_pool = {tier.label: [] for tier in PoolTier}
    real = []
    for model in models:
        pool_names = sorted(PoolTier(candidate.tier).label for candidate in model.pools.all())
        for pool in pool_names:
            by_pool[pool].append(model)
        price = prices.get(model.public_id)
        if price is None:  # it cannot be priced, so it cannot be served (billing.pricing.UnknownModel)
            continue
        tier = pricing.tier_for(model.public_id, byok=model.provider_id in own_keys)
        input_rate, output_rate = pricing.rates_per_million(
            plan=plan, tier=tier, model=model.public_id, list_prices=prices
        )
        real.append(
            LibraryEntry(
                id=model.public_id,
                name=model.name or model.public_id,
                owned_by=model.public_id.split("/", 1)[0],
                created=model.added_at,
                provider=model.provider_id,
                region=model.provider.region,
                available=model.provider.enabled,
                context_length=model.context_length,
                max_output_tokens=model.max_output_tokens,
                tier=tier,
                input_per_million_usd=input_rate,
                output_per_million_usd=output_rate,
                capabilities={name: getattr(model, field) for name, field in CAPABILITY_FIELDS.items()},
                pools=pool_names,
                candidates=None,
                rating=_published_rating(model),
            )
        )
    return [_pool_entry(pool, candidates, plan) for pool, candidates in by_pool.items()] + real


def _published_rating(model: GatewayModel) -> ModelRating | None:
    try:
        rating = model.rating
    except ModelRating.DoesNotExist:
        return None
    return rating if rating.published else None


def _pool_entry(pool: str, candidates: list[GatewayModel], plan) -> LibraryEntry:
    serving = [model for model in candidates if model.provider.enabled]
    counted = serving or candidates  # what the pool offers now, else once its providers are on
    tier = pricing.tier_for(pool)
    input_rate, output_rate = pricing.rates_per_million(plan=plan, tier=tier, model=pool, list_prices={})
    return LibraryEntry(
        id=pool,
        name=pool,
        owned_by="nexevo",
        created=min((model.added_at for model in candidates), default=None),
        provider=None,
        region=None,
        available=bool(serving),
        context_length=min((model.context_length for model in counted), default=None),
        max_output_tokens=min(
            (model.max_output_tokens for model in counted if model.max_output_tokens), default=None
        ),
        tier=tier,
        input_per_million_usd=input_rate,
        output_per_million_usd=output_rate,
        capabilities={
            name: bool(counted) and all(getattr(model, field) for model in counted)
            for name, field in CAPABILITY_FIELDS.items()
        },
        pools=[],
        candidates=[model.public_id for model in candidates],
    )
