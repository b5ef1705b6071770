from django.db.models import QuerySet

from core.errors import NotFound
from orgs.permissions import Action, can

from .models import ApiKey


def keys_of_organization(*, organization) -> QuerySet[ApiKey]:
    """The organization's keys, newest first, with their creators joined in."""
    return (
        ApiKey.objects.filter(organization=organization)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def keys_visible_to(membership) -> QuerySet[ApiKey]:
    """Owners and admins see every key of the organization; developers their own."""
    keys = ApiKey.objects.filter(organization_id=membership.organization_id).select_related("created_by")
    if not can(membership, Action.MANAGE_ALL_KEYS):
        keys = keys.filter(created_by_id=membership.user_id)
    return keys


def key_get_visible(membership, key_id: str) -> ApiKey:
    """A key the member may see and manage; any other (or none) is a 404, as if it did not exist."""
    api_key = (
        keys_visible_to(membership).select_related("organization", "limits_set_by").filter(id=key_id).first()
    )
    if api_key is None:
        raise NotFound(code="key_not_found")
    return api_key


def plan_rate_limits(*, organization) -> dict[str, int]:
    """The chat endpoint's per-minute limits of the organization's plan: what a key without limits
    of its own gets, and the most a key's own limits may be."""
    from billing.selectors import account_with_plan  # billing builds on keys, not the other way

    plan = account_with_plan(organization).plan
    return {"requests_per_minute": plan.requests_per_minute, "tokens_per_minute": plan.tokens_per_minute}
