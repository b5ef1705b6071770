from django.db.models import QuerySet

from .models import Membership, Organization

ACTIVE_ORGANIZATION_SESSION_KEY = "active_organization_id"


def memberships_of_user(*, user) -> QuerySet[Membership]:
    """The user's memberships with their organizations, personal workspace first."""
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("-organization__is_personal", "organization__name", "organization__id")
    )


def membership_get(*, user, organization_id: str) -> Membership | None:
    return (
        Membership.objects.filter(user=user, organization_id=organization_id)
        .select_related("organization")
        .first()
    )


def personal_organization_of_user(*, user) -> Organization | None:
    return Organization.objects.filter(is_personal=True, memberships__user=user).first()


def active_membership(request) -> Membership | None:
    """The membership the dashboard acts through: the organization picked in the switcher.

    Falls back to the personal workspace when nothing was picked or the user has left the picked
    organization. Looked up once per request.
    """
    if hasattr(request, "_active_membership"):
        return request._active_membership
    membership = None
    user = request.user
    if user.is_authenticated:
        chosen = request.session.get(ACTIVE_ORGANIZATION_SESSION_KEY)
        if chosen:
            membership = membership_get(user=user, organization_id=chosen)
        if membership is None:
            membership = (
                Membership.objects.filter(user=user, organization__is_personal=True)
                .select_related("organization")
                .first()
            )
    request._active_membership = membership
    return membership
