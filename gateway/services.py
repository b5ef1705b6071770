"""Loading providers and models from a file (``manage.py loadproviders``)."""

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


@transaction.atomic
def providers_load(data: dict) -> dict[str, int]:
    """Creates or updates every provider and model in ``data`` and sets each pool to exactly the
    models listed. Running it twice changes nothing the second time. All or nothing."""
    if not isinstance(data, dict):
        raise InvalidProviderFile("The file must hold a JSON object with providers, models and pools.")
    counts = {"providers": 0, "models": 0, "pool_candidates": 0}
    for index, entry in enumerate(data.get("providers", [])):
        where = f"providers[{index}]"
        region = _require(entry, "region", where)
        if region not in Region.values:
            raise InvalidProviderFile(f"{where}: region must be one of {', '.join(Region.values)}.")
        provider, _created = Provider.objects.update_or_create(
            id=_require(entry, "id", where),
            defaults={
                "name": entry.get("name") or entry["id"],
                "base_url": _require(entry, "base_url", where),
                "region": region,
                "enabled": bool(entry.get("enabled", True)),
            },
        )
        secret = entry.get("api_key")
        if entry.get("api_key_env"):
            secret = os.environ.get(entry["api_key_env"])
            if secret is None:
                raise InvalidProviderFile(
                    f"{where}: the environment variable {entry['api_key_env']} is not set."
                )
        if secret is not None and secret != provider.api_key:
            provider.set_api_key(secret)
            provider.save(update_fields=["api_key_encrypted"])
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
                "context_length": int(entry.get("context_length", 8192)),
                "enabled": bool(entry.get("enabled", True)),
            },
        )
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
