"""Where a chat request may go: the model it names, the key's region policy, the organization's own
provider keys, and for ``nexevo/fast`` and ``nexevo/balanced`` the router's order over the pool.

``route()`` answers with the targets to try, in order. Nothing here calls a provider.
"""

import dataclasses
import datetime
import random

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from apikeys.models import RoutingPolicy
from billing.models import ModelPrice, Tier
from billing.pricing import BALANCED_MODEL, FAST_MODEL, UnknownModel
from core.errors import ServiceError
from feedback.selectors import model_feedback_by_organization

from . import router, snapshots
from .models import GatewayModel, OrganizationProviderKey, PoolCandidate, PoolTier, Region, RequestLog

REGIONS_BY_POLICY = {
    RoutingPolicy.ANY: {Region.CN, Region.OVERSEAS},
    RoutingPolicy.CN_ONLY: {Region.CN},
    RoutingPolicy.OVERSEAS_ONLY: {Region.OVERSEAS},
}
POOLS = {FAST_MODEL: PoolTier.FAST, BALANCED_MODEL: PoolTier.BALANCED}


@dataclasses.dataclass(frozen=True)
class Target:
    """One model at one provider, with the credentials to call it."""

    model: str  # the public id, what is priced and reported
    upstream_name: str
    provider: str
    region: str
    base_url: str
    api_key: str = dataclasses.field(repr=False)
    context_length: int
    byok: bool = False


@dataclasses.dataclass(frozen=True)
class Route:
    requested_model: str
    tier: str
    targets: list[Target]


class ModelNotAllowed(ServiceError):
    def __init__(self, model: str, policy: str):
        super().__init__(
            f"This key's routing policy ({policy}) does not allow {model}, which is served in another "
            "region. Use another model or a key with another policy.",
            code="model_not_allowed_by_routing_policy",
            param="model",
        )


class NoEligibleModel(ServiceError):
    status = 503

    def __init__(self, model: str, policy: str):
        super().__init__(
            f"No model behind {model} is available under this key's routing policy ({policy}) right now.",
            code="no_eligible_model",
            param="model",
        )


class ModelUnavailable(ServiceError):
    status = 503

    def __init__(self, model: str):
        super().__init__(
            f"{model} is switched off for now. Try again later or use another model.",
            code="model_unavailable",
            param="model",
        )


def _target(model: GatewayModel, *, byok_key: str | None = None) -> Target:
    return Target(
        model=model.public_id,
        upstream_name=model.upstream_name,
        provider=model.provider_id,
        region=model.provider.region,
        base_url=model.provider.base_url.rstrip("/"),
        api_key=byok_key if byok_key is not None else model.provider.api_key,
        context_length=model.context_length,
        byok=byok_key is not None,
    )


@dataclasses.dataclass(frozen=True)
class Catalog:
    """Every model with where it is served, the pools and the list prices: a few rows, read whole."""

    targets: dict[str, Target]  # by public id, with our provider key
    serving: frozenset[str]  # the public ids whose model and provider are both switched on
    pools: dict[str, list[str]]  # pool tier -> public ids
    prices: dict[str, ModelPrice]

    @classmethod
    def load(cls) -> "Catalog":
        models = list(GatewayModel.objects.select_related("provider"))
        pools: dict[str, list[str]] = {}
        for tier, public_id in PoolCandidate.objects.values_list("tier", "model__public_id").order_by("id"):
            pools.setdefault(tier, []).append(public_id)
        return cls(
            targets={model.public_id: _target(model) for model in models},
            serving=frozenset(m.public_id for m in models if m.enabled and m.provider.enabled),
            pools=pools,
            prices={price.model: price for price in ModelPrice.objects.all()},
        )


def catalog() -> Catalog:
    return snapshots.get("catalog", Catalog.load)


def provider_keys(organization_id: str) -> dict[str, str]:
    """The organization's own provider keys, decrypted, by provider id."""

    def load():
        return {
            own.provider_id: own.api_key
            for own in OrganizationProviderKey.objects.filter(organization_id=organization_id)
        }

    return snapshots.get(("provider_keys", organization_id), load)


def route(*, api_key, model: str) -> Route:
    """The targets for ``model`` under ``api_key``'s policy, in the order to try them."""
    regions = REGIONS_BY_POLICY[api_key.routing_policy]
    known = catalog()
    if model in POOLS:
        candidates = [
            known.targets[public_id]
            for public_id in known.pools.get(POOLS[model], [])
            if public_id in known.serving and known.targets[public_id].region in regions
        ]
        if not candidates:
            raise NoEligibleModel(model, api_key.routing_policy)
        by_id = {candidate.model: candidate for candidate in candidates}
        order = router.choose(sorted(by_id), ratings(list(by_id)), _rng)
        return Route(requested_model=model, tier=POOLS[model], targets=[by_id[m] for m in order])

    found = known.targets.get(model)
    if found is None:
        raise UnknownModel(model)
    if model not in known.serving:
        raise ModelUnavailable(model)
    if found.region not in regions:
        raise ModelNotAllowed(model, api_key.routing_policy)
    own = provider_keys(api_key.organization_id).get(found.provider)
    if own is not None:
        return Route(
            requested_model=model,
            tier=Tier.BYOK,
            targets=[dataclasses.replace(found, api_key=own, byok=True)],
        )
    return Route(requested_model=model, tier=Tier.PASSTHROUGH, targets=[found])


# --- The router's inputs --------------------------------------------------------------------------

# One generator per process; tests reseed it for a reproducible order.
_rng = random.Random(settings.NEXEVO_ROUTER_SEED)


def reseed(seed: int | None) -> None:
    _rng.seed(seed)
    snapshots.clear()


# The error codes of requests that a provider failed (gateway.router: what counts against a model's
# health). Everything else a request can end with is the caller's doing or ours.
PROVIDER_FAULTS = ("upstream_timeout", "upstream_error", "upstream_closed_early")


def ratings(models: list[str]) -> dict[str, tuple[float, float]]:
    """(positive, negative) per model as the router weighs them (gateway.router): thumbs over the
    feedback window and provider faults of the last hour, each organization counting for at most
    ``router.organization_weight()`` ratings of a model. Read at most every
    ``NEXEVO_ROUTER_RATINGS_SECONDS`` per process (gateway.snapshots), so the hot path usually skips these
    two queries."""
    return snapshots.get(
        ("ratings", tuple(sorted(models))),
        lambda: _ratings_read(models),
        seconds=settings.NEXEVO_ROUTER_RATINGS_SECONDS,
    )


def _ratings_read(models: list[str]) -> dict[str, tuple[float, float]]:
    by_organization = {
        (model, organization): [positive, negative]
        for model, organization, positive, negative in model_feedback_by_organization(models=models)
    }
    since = timezone.now() - datetime.timedelta(hours=1)
    faults = (
        RequestLog.objects.filter(created_at__gte=since, model__in=models, error_code__in=PROVIDER_FAULTS)
        .values("model", "organization_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in faults:
        by_organization.setdefault((row["model"], row["organization_id"]), [0, 0])[1] += row["n"]
    counts = {model: (0.0, 0.0) for model in models}
    counts.update(
        router.bounded(
            ((model, positive, negative) for (model, _org), (positive, negative) in by_organization.items()),
            weight=router.organization_weight(),
        )
    )
    return counts
