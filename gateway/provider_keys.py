"""The organization's own provider keys (bring your own key): reads and writes.

A stored key makes every real model id of its provider ``byok`` for the organization
(``gateway.routing``): requests for those models go out with the organization's key and are billed
at the plan's BYOK fee. Keys are encrypted at rest (``core.crypto``) and never shown again; pages
show the last four characters. Only owners and admins add, test or remove them.
"""

import logging
import re
from dataclasses import dataclass

import httpx
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound, ServiceError
from orgs.audit import audit_record
from orgs.permissions import Action, require

from .models import OrganizationProviderKey, Provider

logger = logging.getLogger(__name__)

TEST_TIMEOUT_SECONDS = 5.0
KEY_MAX_LENGTH = 512
# Printable ASCII without spaces: what providers' keys look like, and all an Authorization header
# can carry without being split or refused.
_KEY_SHAPE = re.compile(rf"[\x21-\x7e]{{8,{KEY_MAX_LENGTH}}}")


@dataclass(frozen=True)
class KeyCheck:
    """What the provider said when asked for its model list with the key."""

    ok: bool
    message: str


# --- Reads ----------------------------------------------------------------------------------------


def provider_keys_of(*, organization) -> QuerySet[OrganizationProviderKey]:
    return (
        OrganizationProviderKey.objects.filter(organization=organization)
        .select_related("provider")
        .order_by("provider__name", "provider_id")
    )


def providers_accepting_keys() -> QuerySet[Provider]:
    """The providers a key can be added for: the enabled ones."""
    return Provider.objects.filter(enabled=True).order_by("name", "id")


def provider_key_get(*, organization, provider_id: str) -> OrganizationProviderKey:
    """The organization's key for the provider; another organization's key is the same 404."""
    stored = provider_keys_of(organization=organization).filter(provider_id=provider_id).first()
    if stored is None:
        raise NotFound(_("No key stored for this provider."), code="provider_key_not_found")
    return stored


# --- Writes ---------------------------------------------------------------------------------------


def _clean_key(api_key: str) -> str:
    plaintext = (api_key or "").strip()
    if not _KEY_SHAPE.fullmatch(plaintext):
        raise ServiceError(
            _("Paste the whole key: 8 to %(max)d characters, no spaces.") % {"max": KEY_MAX_LENGTH},
            code="invalid_provider_key",
            param="api_key",
        )
    return plaintext


def provider_key_set(
    *, membership, provider_id: str, api_key: str, ip: str | None = None
) -> tuple[OrganizationProviderKey, bool]:
    """Stores the organization's key for an enabled provider, replacing the one it had.
    Returns the stored key and whether it is new (``False``: it replaced another)."""
    require(membership, Action.MANAGE_PROVIDER_KEYS)
    provider = providers_accepting_keys().filter(id=provider_id).first()
    if provider is None:
        raise ServiceError(_("Choose an enabled provider."), code="invalid_provider", param="provider")
    plaintext = _clean_key(api_key)
    organization = membership.organization
    try:
        with transaction.atomic():
            stored = (
                OrganizationProviderKey.objects.select_for_update()
                .filter(organization=organization, provider=provider)
                .first()
            )
            created = stored is None
            if created:
                stored = OrganizationProviderKey(organization=organization, provider=provider)
            else:
                # "Added" on the page means when this key, not the first one, was stored.
                stored.created_at = timezone.now()
            stored.set_api_key(plaintext)
            stored.save()
            _audit(stored, membership, "provider_key.added" if created else "provider_key.replaced", ip)
    except IntegrityError:
        # Two members added a first key for the same provider at the same moment; one of them won.
        raise ServiceError(
            _("A key for %(provider)s was just added by someone else. Try again.")
            % {"provider": provider.name},
            code="conflict",
            status=409,
        ) from None
    return stored, created


@transaction.atomic
def provider_key_remove(*, membership, provider_key: OrganizationProviderKey, ip: str | None = None) -> None:
    """Deletes the key; the provider's models go back to passthrough on Nexevo's key at once."""
    require(membership, Action.MANAGE_PROVIDER_KEYS)
    _audit(provider_key, membership, "provider_key.removed", ip)
    provider_key.delete()


@transaction.atomic
def provider_key_remove_by_staff(
    *, provider_key: OrganizationProviderKey, staff_user, ip: str | None = None
) -> None:
    """Staff delete a key in Django admin (a leaked key, say); the organization's trail shows it."""
    audit_record(
        organization=provider_key.organization,
        actor=staff_user,
        action="provider_key.removed_by_staff",
        **_target(provider_key),
        ip=ip,
    )
    provider_key.delete()


def provider_key_test(*, membership, provider_key: OrganizationProviderKey) -> KeyCheck:
    """Asks the provider for its model list (``GET {base_url}/models``) with the stored key.

    The answer never contains the key: only the provider's name, the HTTP status or the kind of
    network failure.
    """
    require(membership, Action.MANAGE_PROVIDER_KEYS)
    provider = provider_key.provider
    try:
        plaintext = provider_key.api_key
    except ValueError:
        return KeyCheck(False, _("The stored key can no longer be read. Add it again."))
    url = provider.base_url.rstrip("/") + "/models"
    try:
        response = httpx.get(
            url,
            headers={"Authorization": f"Bearer {plaintext}", "Accept": "application/json"},
            timeout=TEST_TIMEOUT_SECONDS,
            follow_redirects=False,
        )
    except httpx.TimeoutException:
        outcome = KeyCheck(
            False,
            _("%(provider)s did not answer within %(seconds)d seconds.")
            % {"provider": provider.name, "seconds": TEST_TIMEOUT_SECONDS},
        )
    except httpx.HTTPError as error:
        outcome = KeyCheck(
            False,
            _("Could not reach %(provider)s (%(reason)s).")
            % {"provider": provider.name, "reason": type(error).__name__},
        )
    else:
        if response.is_success:
            outcome = KeyCheck(True, _("%(provider)s accepted the key.") % {"provider": provider.name})
        elif response.status_code in (401, 403):
            outcome = KeyCheck(
                False,
                _("%(provider)s refused the key (HTTP %(status)d).")
                % {"provider": provider.name, "status": response.status_code},
            )
        else:
            outcome = KeyCheck(
                False,
                _("%(provider)s answered HTTP %(status)d.")
                % {"provider": provider.name, "status": response.status_code},
            )
    logger.info(
        "provider key test: organization=%s provider=%s ok=%s",
        provider_key.organization_id,
        provider.id,
        outcome.ok,
    )
    return outcome


def _target(stored: OrganizationProviderKey) -> dict:
    return {
        "target_type": "provider_key",
        "target_id": stored.provider_id,
        "target_label": f"{stored.provider.name} …{stored.last_four}",
        "metadata": {"provider": stored.provider_id, "last_four": stored.last_four},
    }


def _audit(stored: OrganizationProviderKey, membership, action: str, ip: str | None) -> None:
    audit_record(
        organization=membership.organization, actor=membership.user, action=action, ip=ip, **_target(stored)
    )
