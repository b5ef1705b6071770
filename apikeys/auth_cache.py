"""A short-lived cache of authenticated keys, so the hot path usually skips the database.

An entry holds the key with its creator, organization and the creator's role there, for at most
``NEXEVO_KEY_CACHE_SECONDS`` (0 turns the cache off; production without Redis, where processes would
not share it, defaults to 0). Secrets are not cached: the password hash and the webhook secrets are
left out and load from the database if something reads them.

Anything that changes what an entry carries (revoking, editing the key, a role change, a removal,
a deactivation) *forgets* it: the entry is replaced by a tombstone for the cache's lifetime, and
entries are only ever added where nothing is (``cache.add``). So a request that read the database
just before a revocation cannot put the old state back afterwards.

While Redis is unreachable the cache is treated as empty: every key is read from the database, and
nothing falls back to a process's own memory (another process would not see its tombstones). A
tombstone that could not be written is kept here and written before this process next reads the
cache, so an entry cached before the outage is not served again once Redis is back. (A process that
serves no further request cannot do that; its entries expire within ``NEXEVO_KEY_CACHE_SECONDS``.)
"""

import copy
import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from core.cache import CacheUnavailable, shared_cache

logger = logging.getLogger(__name__)

_unwritten_tombstones: dict[str, float] = {}  # cache key -> monotonic time after which it is moot
_unwritten_lock = threading.Lock()

_PREFIX = "apikey:"
_TOMBSTONE = "forgotten"
_SECRET_FIELDS = {"created_by": ("password",), None: ("webhook_secret", "previous_webhook_secret")}


def _cache_key(key_hash: str) -> str:
    return _PREFIX + key_hash


def _enabled() -> bool:
    return settings.NEXEVO_KEY_CACHE_SECONDS > 0


def _write_unwritten_tombstones() -> None:
    """Writes the tombstones an outage kept from being written; raises if it still cannot."""
    if not _unwritten_tombstones:
        return
    with _unwritten_lock:
        now = time.monotonic()
        keys = [key for key, moot_after in _unwritten_tombstones.items() if moot_after > now]
        if keys:
            shared_cache().set_many(
                dict.fromkeys(keys, _TOMBSTONE), timeout=settings.NEXEVO_KEY_CACHE_SECONDS
            )
        _unwritten_tombstones.clear()


def cached(key_hash: str):
    if not _enabled():
        return None
    try:
        _write_unwritten_tombstones()
        entry = shared_cache().get(_cache_key(key_hash))
    except CacheUnavailable:  # an unavailable cache is an empty one (core.cache logs the outage)
        return None
    except Exception:  # noqa: BLE001
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
        shared_cache().add(_cache_key(api_key.key_hash), entry, timeout=settings.NEXEVO_KEY_CACHE_SECONDS)
    except CacheUnavailable:
        pass
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


# Sent whenever what keys carry changes (``forget``), with their ``key_hashes``: gateway.key_changes
# drops its copies and tells every process.
keys_changed = Signal()


def forget(key_hashes) -> None:
    """Replaces the entries with tombstones, now and once the current transaction has committed."""
    key_hashes = list(key_hashes)
    keys_changed.send(sender=None, key_hashes=key_hashes)
    keys = [_cache_key(key_hash) for key_hash in key_hashes]
    if not keys or not _enabled():
        return

    def write_tombstones():
        try:
            shared_cache().set_many(
                dict.fromkeys(keys, _TOMBSTONE), timeout=settings.NEXEVO_KEY_CACHE_SECONDS
            )
        except Exception as error:  # noqa: BLE001
            logger.warning("The key cache is unavailable (%s); its tombstones are written later.", error)
            # An entry cached before the outage lives at most this long from now.
            moot_after = time.monotonic() + settings.NEXEVO_KEY_CACHE_SECONDS
            with _unwritten_lock:
                _unwritten_tombstones.update(dict.fromkeys(keys, moot_after))

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
