"""A short-lived cache of authenticated keys, so the hot path usually skips the database.

An entry holds the key with its creator, organization and the creator's role there, for at most
``NEXEVO_KEY_CACHE_SECONDS`` (0 turns the cache off; production without Redis, where processes would
not share it, defaults to 0). Secrets are not cached: the password hash and the webhook secrets are
left out and load from the database if something reads them.

Anything that changes what an entry carries (revoking, editing the key, a role change, a removal,
a deactivation) *forgets* it: the entry is replaced by a tombstone for the cache's lifetime, and
entries are only ever added where nothing is (``cache.add``). So a request that read the database
just before a revocation cannot put the old state back afterwards. A cache that fails (Redis down)
is treated as empty.
"""

import copy
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

_PREFIX = "apikey:"
_TOMBSTONE = "forgotten"
_SECRET_FIELDS = {"created_by": ("password",), None: ("webhook_secret", "previous_webhook_secret")}


def _cache_key(key_hash: str) -> str:
    return _PREFIX + key_hash


def _enabled() -> bool:
    return settings.NEXEVO_KEY_CACHE_SECONDS > 0


def cached(key_hash: str):
    if not _enabled():
        return None
    try:
        entry = cache.get(_cache_key(key_hash))
    except Exception:  # noqa: BLE001 - an unavailable cache is an empty one
        logger.warning("The key cache is unavailable; reading the database.", exc_info=True)
        return None
    if entry is None or entry == _TOMBSTONE:
        return None
    return entry


def remember(api_key) -> None:
    """Caches the key unless an entry (or a tombstone) is there already."""
    if not _enabled():
        return
    entry = _without_secrets(api_key)
    try:
        cache.add(_cache_key(api_key.key_hash), entry, timeout=settings.NEXEVO_KEY_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("The key cache is unavailable.", exc_info=True)


def _without_secrets(api_key):
    """A copy to cache: the secret fields are deferred, so reading one loads it from the database."""
    entry = copy.copy(api_key)
    entry.created_by = copy.copy(api_key.created_by)
    for field in _SECRET_FIELDS[None]:
        entry.__dict__.pop(field, None)
    for field in _SECRET_FIELDS["created_by"]:
        entry.created_by.__dict__.pop(field, None)
    return entry


def forget(key_hashes) -> None:
    """Replaces the entries with tombstones, now and once the current transaction has committed."""
    keys = [_cache_key(key_hash) for key_hash in key_hashes]
    if not keys or not _enabled():
        return

    def write_tombstones():
        try:
            cache.set_many(dict.fromkeys(keys, _TOMBSTONE), timeout=settings.NEXEVO_KEY_CACHE_SECONDS)
        except Exception:  # noqa: BLE001
            logger.warning("The key cache is unavailable; entries expire on their own.", exc_info=True)

    write_tombstones()
    transaction.on_commit(write_tombstones)


def forget_keys_created_by(user_id, organization_id=None) -> None:
    from .models import ApiKey

    keys = ApiKey.objects.filter(created_by_id=user_id)
    if organization_id is not None:
        keys = keys.filter(organization_id=organization_id)
    forget(keys.values_list("key_hash", flat=True))


def forget_keys_of_organization(organization_id) -> None:
    from .models import ApiKey

    forget(ApiKey.objects.filter(organization_id=organization_id).values_list("key_hash", flat=True))


def last_use_recorded_recently(key_id: str, *, within_seconds: int = 60) -> bool:
    """Whether ``last_used_at`` was written less than a minute ago (across processes with Redis);
    if not, notes that it is being written now."""
    now = timezone.now().timestamp()
    cache_key = f"apikey-used:{key_id}"
    try:
        last = cache.get(cache_key)
        if last is not None and now - last < within_seconds:
            return True
        cache.set(cache_key, now, timeout=within_seconds * 2)
    except Exception:  # noqa: BLE001 - without the cache, the database's own condition still holds
        logger.warning("The key cache is unavailable.", exc_info=True)
    return False
