"""Who may do what in an organization: the one place both the pages and the API ask."""

from .models import Membership, Role


def can_manage_key(membership: Membership | None, api_key) -> bool:
    """Owners and admins manage every key of their organization; developers their own."""
    if membership is None or membership.organization_id != api_key.organization_id:
        return False
    return membership.role in (Role.OWNER, Role.ADMIN) or api_key.created_by_id == membership.user_id
