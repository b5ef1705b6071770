from datetime import timedelta

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ServiceError
from orgs.audit import audit_record
from orgs.models import Membership

from . import tokens
from .models import ApiKey

NAME_MAX_LENGTH = 100
# last_used_at is a hint for people, not an audit record: one write a minute per key at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidApiKey(Exception):
    """Malformed, unknown or revoked: the caller is told nothing more specific."""


def _clean_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ServiceError(_("Give the key a name."), code="invalid_name", param="name")
    name = name.strip()
    if len(name) > NAME_MAX_LENGTH:
        raise ServiceError(
            _("A key name has at most %(max)d characters.") % {"max": NAME_MAX_LENGTH},
            code="invalid_name",
            param="name",
        )
    return name


@transaction.atomic
def key_create(*, organization, created_by, name: str, ip: str | None = None) -> tuple[ApiKey, str]:
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
    audit_record(organization=organization, actor=created_by, action="key.created", target=api_key, ip=ip)
    return api_key, full_key


@transaction.atomic
def key_revoke(*, api_key: ApiKey, actor, ip: str | None = None) -> ApiKey:
    """Revokes the key; revoking a revoked key changes nothing."""
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    if revoked:
        audit_record(
            organization=api_key.organization, actor=actor, action="key.revoked", target=api_key, ip=ip
        )
    return api_key


def keys_revoke_created_by(*, user, organization=None) -> int:
    keys = ApiKey.objects.filter(created_by=user, revoked_at__isnull=True)
    if organization is not None:
        keys = keys.filter(organization=organization)
    return keys.update(revoked_at=timezone.now())


def keys_revoke_of_organization(*, organization) -> int:
    return ApiKey.objects.filter(organization=organization, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def key_authenticate(raw_key: str) -> ApiKey:
    """The key behind a Bearer token: one SHA-256 and one indexed query.

    The query joins the creator and the organization and reads the creator's current role there
    (``member_role``), so a key stops working the moment its creator leaves, and a role change
    applies to the very next request.
    """
    if not tokens.is_well_formed(raw_key):
        raise InvalidApiKey
    role = Membership.objects.filter(organization=OuterRef("organization"), user=OuterRef("created_by"))
    api_key = (
        ApiKey.objects.select_related("created_by", "organization")
        .annotate(member_role=Subquery(role.values("role")[:1]))
        .filter(key_hash=tokens.hash_key(raw_key))
        .first()
    )
    if (
        api_key is None
        or api_key.revoked_at is not None
        or not api_key.created_by.is_active
        or api_key.member_role is None
    ):
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
