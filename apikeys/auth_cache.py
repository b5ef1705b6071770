"""A short-lived cache of authenticated keys, so the hot path usually skips the database.

An entry holds the key with its creator, organization and the creator's role there, for at most
``NEXEVO_KEY_CACHE_SECONDS``. Anything that changes one of those (revoking, editing the key, a role
change, a removal, a deactivation) forgets the affected entries at once, so a revoked key is refused
on its very next request. With Redis configured the cache is shared by every process; without it,
the console runs as one process and the local-memory cache is just as exact.
"""

from django.conf import settings
from django.core.cache import cache

_PREFIX = "apikey:"


def _cache_key(key_hash: str) -> str:
    return _PREFIX + key_hash


def cached(key_hash: str):
    return cache.get(_cache_key(key_hash))


def remember(api_key) -> None:
    cache.set(_cache_key(api_key.key_hash), api_key, timeout=settings.NEXEVO_KEY_CACHE_SECONDS)


def forget(key_hashes) -> None:
    key_hashes = list(key_hashes)
    if key_hashes:
        cache.delete_many([_cache_key(key_hash) for key_hash in key_hashes])


def forget_keys_created_by(user_id, organization_id=None) -> None:
    from .models import ApiKey

    keys = ApiKey.objects.filter(created_by_id=user_id)
    if organization_id is not None:
        keys = keys.filter(organization_id=organization_id)
    forget(keys.values_list("key_hash", flat=True))


def forget_keys_of_organization(organization_id) -> None:
    from .models import ApiKey

    forget(ApiKey.objects.filter(organization_id=organization_id).values_list("key_hash", flat=True))
