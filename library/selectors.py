"""What the Model library pages read: the whole shipped catalog priced for whoever looks, filtered and
sorted, and the example cost of a workload.

Prices come from gateway.selectors.model_library and billing.pricing, exactly as GET /v1/models and a
charge state them: at the signed-in caller's plan (its own key for a provider makes that provider
``byok``), else at the default plan, whose rates are the list prices plus the standard markup.
Every region is shown, and every model switched on in the catalog, including those whose provider is
switched off for want of a key: the page marks them (``available``) rather than hiding them, so that
the library shows what the console offers, and a filter shows only what is served now.
"""

import dataclasses
from decimal import Decimal

from billing import pricing
from billing.models import ModelPrice, Plan
from billing.selectors import account_with_plan
from gateway.models import Provider, Region
from gateway.selectors import LibraryEntry, model_library
from orgs.selectors import active_membership

# The workload the compare page prices: a thousand requests of 1,000 tokens in and 500 out.
EXAMPLE_REQUESTS = 1_000
EXAMPLE_PROMPT_TOKENS = 1_000
EXAMPLE_COMPLETION_TOKENS = 500

SORTS = ("name", "price", "price_high", "context", "rating")


@dataclasses.dataclass(frozen=True)
class Library:
    models: list[LibraryEntry]  # the real model ids, by id; the pools are not listed
    plan: Plan
    signed_in: bool  # priced at the caller's own plan
    provider_names: dict[str, str]


def _pricing_plan(request) -> tuple[object | None, Plan]:
    """The organization to price for and its plan; for a visitor, none and the default plan."""
    membership = active_membership(request) if request.user.is_authenticated else None
    if membership is not None:
        return membership.organization, account_with_plan(membership.organization).plan
    plan = Plan.objects.filter(is_default=True).first() or Plan.objects.first()
    return None, plan


def library_for(request) -> Library:
    """The catalog as ``request``'s caller sees it. A constant number of queries whatever the number
    of models (model_library's four, the providers' names, the plan)."""
    organization, plan = _pricing_plan(request)
    entries = model_library(organization=organization, regions=set(Region), plan=plan)
    return Library(
        models=[entry for entry in entries if entry.provider is not None],
        plan=plan,
        signed_in=organization is not None,
        provider_names=dict(Provider.objects.values_list("id", "name")),
    )


def _rating_key(entry: LibraryEntry):
    rating = entry.rating
    if rating is None or rating.positive_rate is None:
        return (1, Decimal(0), 0, entry.id)  # unrated last
    return (0, -rating.positive_rate, -rating.ratings, entry.id)


SORT_KEYS = {
    "name": lambda entry: entry.id,
    "price": lambda entry: (entry.input_per_million_usd, entry.output_per_million_usd, entry.id),
    "price_high": lambda entry: (-entry.input_per_million_usd, -entry.output_per_million_usd, entry.id),
    "context": lambda entry: (-(entry.context_length or 0), entry.id),
    "rating": _rating_key,
}


def models_filtered(
    library: Library,
    *,
    query: str = "",
    provider: str = "",
    region: str = "",
    capabilities: tuple[str, ...] = (),
    min_context: int | None = None,
    available_only: bool = False,
    sort: str = "name",
) -> list[LibraryEntry]:
    """The library's models that match every filter given, in ``sort`` order. The catalog is a few
    hundred models at most and read whole already, so this filters in memory: no query."""
    words = query.casefold().split()
    matched = []
    for entry in library.models:
        haystack = f"{entry.id} {entry.name} {library.provider_names.get(entry.provider, '')}".casefold()
        if words and not all(word in haystack for word in words):
            continue
        if provider and entry.provider != provider:
            continue
        if region and entry.region != region:
            continue
        if not all(entry.capabilities.get(name) for name in capabilities):
            continue
        if min_context and (entry.context_length or 0) < min_context:
            continue
        if available_only and not entry.available:
            continue
        matched.append(entry)
    return sorted(matched, key=SORT_KEYS[sort])


def example_costs(library: Library, entries: list[LibraryEntry]) -> dict[str, Decimal]:
    """What ``EXAMPLE_REQUESTS`` requests of ``EXAMPLE_PROMPT_TOKENS`` in and
    ``EXAMPLE_COMPLETION_TOKENS`` out cost on each model, by id: a request's charge under the plan
    (billing.pricing.cost, rounded as a charge is), times the number of requests. Exact. One query."""
    prices = {price.model: price for price in ModelPrice.objects.filter(model__in=[e.id for e in entries])}
    return {
        entry.id: EXAMPLE_REQUESTS
        * pricing.cost(
            plan=library.plan,
            tier=entry.tier,
            model=entry.id,
            prompt_tokens=EXAMPLE_PROMPT_TOKENS,
            completion_tokens=EXAMPLE_COMPLETION_TOKENS,
            list_prices=prices,
        )
        for entry in entries
    }
