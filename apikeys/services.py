from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import ServiceError

from . import tokens
from .models import ApiKey

NAME_MAX_LENGTH = 100
# last_used_at is a hint for people, not an audit record: one write a minute per key at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidApiKey(Exception):
    """Malformed, unknown or revoked: the caller is told nothing more specific."""


def _clean_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ServiceError("Give the key a name.", code="invalid_name", param="name")
    name = name.strip()
    if len(name) > NAME_MAX_LENGTH:
        raise ServiceError(
            f"A key name has at most {NAME_MAX_LENGTH} characters.", code="invalid_name", param="name"
        )
    return name


@transaction.atomic
def key_create(*, organization, created_by, name: str) -> tuple[ApiKey, str]:
    """Creates a key and returns it with the full secret, which is never available again."""
    name = _clean_name(name)
    full_key = tokens.generate()
    prefix, last_four = tokens.display_parts(full_key)
    api_key = ApiKey.objects.create(
        organization=organization,
        created_by=created_by,
        name=name,
        key_hash=tokens.hash_key(full_key),
        prefix=prefix,
        last_four=last_four,
    )
    return api_key, full_key


def key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revokes the key; revoking a revoked key changes nothing."""
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def keys_revoke_created_by(*, user, organization=None) -> int:
    keys = ApiKey.objects.filter(created_by=user, revoked_at__isnull=True)
    if organization is not None:
        keys = keys.filter(organization=organization)
    return keys.update(revoked_at=timezone.now())


def key_authenticate(raw_key: str) -> ApiKey:
    """The key behind a Bearer token: one SHA-256 and one indexed lookup, user and org joined in."""
    if not tokens.is_well_formed(raw_key):
        raise InvalidApiKey
    api_key = (
        ApiKey.objects.select_related("created_by", "organization")
        .filter(key_hash=tokens.hash_key(raw_key))
        .first()
    )
    if api_key is None or api_key.revoked_at is not None or not api_key.created_by.is_active:
        raise InvalidApiKey
    _touch_last_used(api_key)
    return api_key


def _touch_last_used(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    api_key.last_used_at = now
