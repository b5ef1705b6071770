"""Who may do what in an organization: the one place both the pages and the API ask.

| action                                              | owner | admin | developer |
|-----------------------------------------------------|-------|-------|-----------|
| see the organization, its members, usage, balance   | yes   | yes   | yes       |
| invite, remove, change the role of developers       | yes   | yes   | no        |
| invite, remove, change the role of admins           | yes   | no    | no        |
| transfer ownership, delete, rename the organization | yes   | no    | no        |
| top up, change plan; see the activity log           | yes   | yes   | no        |
| create keys; use conversations and feedback         | yes   | yes   | yes       |
| manage other members' keys                          | yes   | yes   | no        |
| lock keys' caps and rate limits; require caps       | yes   | yes   | no        |
| add, test, remove provider keys (bring your own)    | yes   | yes   | no        |

A key's spend cap and rate limits lock when an owner or admin sets them (apikeys.services): from then
on only an owner or admin can change them, even on a developer's own key. "Require caps" is the
organization setting that refuses a new key without a monthly spend cap.

Roles are read from the membership on every request, so a change takes effect at once for
sessions and keys alike.
"""

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from core.errors import PermissionDenied

from .models import Membership, Role


class Action(StrEnum):
    VIEW = "view"
    MANAGE_DEVELOPERS = "manage_developers"
    MANAGE_ADMINS = "manage_admins"
    OWN = "own"
    MANAGE_BILLING = "manage_billing"
    VIEW_ACTIVITY = "view_activity"
    USE = "use"
    MANAGE_ALL_KEYS = "manage_all_keys"
    MANAGE_PROVIDER_KEYS = "manage_provider_keys"
    LOCK_KEY_LIMITS = "lock_key_limits"


_ALLOWED_ROLES = {
    Action.VIEW: {Role.OWNER, Role.ADMIN, Role.DEVELOPER},
    Action.MANAGE_DEVELOPERS: {Role.OWNER, Role.ADMIN},
    Action.MANAGE_ADMINS: {Role.OWNER},
    Action.OWN: {Role.OWNER},
    Action.MANAGE_BILLING: {Role.OWNER, Role.ADMIN},
    Action.VIEW_ACTIVITY: {Role.OWNER, Role.ADMIN},
    Action.USE: {Role.OWNER, Role.ADMIN, Role.DEVELOPER},
    Action.MANAGE_ALL_KEYS: {Role.OWNER, Role.ADMIN},
    Action.MANAGE_PROVIDER_KEYS: {Role.OWNER, Role.ADMIN},
    Action.LOCK_KEY_LIMITS: {Role.OWNER, Role.ADMIN},
}

_REFUSALS = {
    Action.MANAGE_DEVELOPERS: _("Only owners and admins can manage members."),
    Action.MANAGE_ADMINS: _("Only the owner can invite, remove or change the role of admins."),
    Action.OWN: _("Only the owner can do this."),
    Action.MANAGE_BILLING: _("Only owners and admins can manage billing."),
    Action.VIEW_ACTIVITY: _("Only owners and admins can see the activity log."),
    Action.MANAGE_ALL_KEYS: _("Developers can manage only their own keys."),
    Action.MANAGE_PROVIDER_KEYS: _("Only owners and admins can manage provider keys."),
    Action.LOCK_KEY_LIMITS: _("Only owners and admins can lock keys' limits or require a spend cap on keys."),
}


def can(membership: Membership | None, action: Action) -> bool:
    return membership is not None and membership.role in _ALLOWED_ROLES[action]


def require(membership: Membership, action: Action) -> None:
    """Raises a 403 ``PermissionDenied`` unless the member's role allows ``action``."""
    if not can(membership, action):
        raise PermissionDenied(str(_REFUSALS.get(action, _("Your role does not allow this."))))


def action_for_managing(role: str) -> Action:
    """Managing a member (invite, remove, change role) with ``role`` needs this action."""
    if role == Role.DEVELOPER:
        return Action.MANAGE_DEVELOPERS
    if role == Role.ADMIN:
        return Action.MANAGE_ADMINS
    return Action.OWN


def can_manage_key(membership: Membership | None, api_key) -> bool:
    """Owners and admins manage every key of their organization; developers their own."""
    if membership is None or membership.organization_id != api_key.organization_id:
        return False
    return can(membership, Action.MANAGE_ALL_KEYS) or api_key.created_by_id == membership.user_id
