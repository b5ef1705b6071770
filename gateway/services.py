"""Loading providers and models from a file (``manage.py loadproviders``), such as the catalog the
console ships (``gateway/catalog/catalog.json``, built by ``gateway/catalog/build.py``)."""

import os
from decimal import Decimal

from django.db import transaction

from billing.models import ModelPrice
from core.money import MoneyError, parse_usd

from .models import GatewayModel, PoolCandidate, PoolTier, Provider, Region


class InvalidProviderFile(ValueError):
    pass


def _require(mapping: dict, key: str, where: str):
    if key not in mapping or mapping[key] in (None, ""):
        raise InvalidProviderFile(f"{where}: '{key}' is required.")
    return mapping[key]


def _price(value, where: str) -> Decimal:
    try:
        return parse_usd(str(value), places=6, allow_zero=True)
    except MoneyError as error:
        raise InvalidProviderFile(f"{where}: {error.message}") from None


CAPABILITIES = {
    "tools": "supports_tools",
    "vision": "supports_vision",
    "json_mode": "supports_json_mode",
    "reasoning": "supports_reasoning",
}


def _capabilities(entry: dict, where: str) -> dict[str, bool]:
    given = entry.get("capabilities") or {}
    if not isinstance(given, dict):
        raise InvalidProviderFile(f"{where}: capabilities must be an object.")
    unknown = set(given) - set(CAPABILITIES)
    if unknown:
        raise InvalidProviderFile(
            f"{where}: unknown capabilities {', '.join(sorted(unknown))} ({', '.join(CAPABILITIES)})."
        )
    return {field: bool(given.get(name, False)) for name, field in CAPABILITIES.items()}


def _whole(value, where: str, name: str, *, default=None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidProviderFile(f"{where}: '{name}' must be a whole number of at least 1.")
    return value


@transaction.atomic
def providers_load(data: dict) -> dict:
    """Creates or updates every provider and model in ``data`` and sets each pool to exactly the
    models listed. Running it twice changes nothing the second time. All or nothing.

    A provider's key is ``api_key`` or the environment variable ``api_key_env`` names; given neither
    (the variable unset), the key it already has is kept. A provider left without a key is loaded
    switched off, so that nothing is routed to it, whatever ``enabled`` says; the answer lists them
    under ``without_key``."""
    if not isinstance(data, dict):
        raise InvalidProviderFile("The file must hold a JSON object with providers, models and pools.")
    counts = {"providers": 0, "models": 0, "pool_candidates": 0, "without_key": []}
    for index, entry in enumerate(data.get("providers", [])):
        where = f"providers[{index}]"
        region = _require(entry, "region", where)
        if region not in Region.values:
            raise InvalidProviderFile(f"{where}: region must be one of {', '.join(Region.values)}.")
        provider_id = _require(entry, "id", where)
        provider = Provider.objects.filter(id=provider_id).first() or Provider(id=provider_id)
        secret = entry.get("api_key")
        if entry.get("api_key_env"):
            secret = os.environ.get(entry["api_key_env"]) or None
        if secret is not None and secret != provider.api_key:
            provider.set_api_key(secret)
        provider.name = entry.get("name") or provider_id
        provider.base_url = _require(entry, "base_url", where)
        provider.region = region
        provider.enabled = bool(entry.get("enabled", True)) and bool(provider.api_key_encrypted)
        provider.save()
        if not provider.api_key_encrypted:
            counts["without_key"].append(provider_id)
        counts["providers"] += 1
    for index, entry in enumerate(data.get("models", [])):
        where = f"models[{index}]"
        public_id = _require(entry, "id", where)
        provider = Provider.objects.filter(id=_require(entry, "provider", where)).first()
        if provider is None:
            raise InvalidProviderFile(f"{where}: no provider '{entry['provider']}'.")
        GatewayModel.objects.update_or_create(
            public_id=public_id,
            defaults={
                "provider": provider,
                "upstream_name": entry.get("upstream_name") or public_id.split("/", 1)[-1],
                "name": entry.get("name") or "",
                "context_length": _whole(entry.get("context_length"), where, "context_length", default=8192),
                "max_output_tokens": _whole(entry.get("max_output_tokens"), where, "max_output_tokens"),
                **_capabilities(entry, where),
                "enabled": bool(entry.get("enabled", True)),
            },
        )
        # The list price lives with billing (billing.pricing reads it from there), keyed by public id.
        ModelPrice.objects.update_or_create(
            model=public_id,
            defaults={
                "provider": provider.id,
                "region": provider.region,
                "input_per_million_usd": _price(_require(entry, "input_per_million_usd", where), where),
                "output_per_million_usd": _price(_require(entry, "output_per_million_usd", where), where),
            },
        )
        counts["models"] += 1
    for tier, model_ids in (data.get("pools") or {}).items():
        if tier not in PoolTier.values:
            raise InvalidProviderFile(f"pools: unknown pool '{tier}' (fast or balanced).")
        models = list(GatewayModel.objects.filter(public_id__in=model_ids))
        missing = set(model_ids) - {model.public_id for model in models}
        if missing:
            raise InvalidProviderFile(f"pools.{tier}: unknown models {', '.join(sorted(missing))}.")
        PoolCandidate.objects.filter(tier=tier).exclude(model__in=models).delete()
        for model in models:
            PoolCandidate.objects.get_or_create(tier=tier, model=model)
        counts["pool_candidates"] += len(models)
    return counts
