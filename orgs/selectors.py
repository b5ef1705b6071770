from django.db.models import OuterRef, QuerySet, Subquery

from core.errors import NotFound

from .models import AuditEvent, Invitation, InvitationStatus, Membership, Organization, Role

ACTIVE_ORGANIZATION_SESSION_KEY = "active_organization_id"
PENDING_INVITATION_SESSION_KEY = "pending_invitation_token"


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
        .select_related("organization", "user")
        .first()
    )


def membership_or_404(*, user, organization_id: str) -> Membership:
    """The user's membership in the organization; an outsider gets the same 404 as a wrong id."""
    membership = membership_get(user=user, organization_id=organization_id)
    if membership is None:
        raise NotFound(code="organization_not_found")
    return membership


def personal_organization_of_user(*, user) -> Organization | None:
    return Organization.objects.filter(is_personal=True, memberships__user=user).first()


def organizations_with_owner() -> QuerySet[Organization]:
    owner = Membership.objects.filter(organization=OuterRef("pk"), role=Role.OWNER).values("user_id")
    return Organization.objects.annotate(owner_user_id=Subquery(owner[:1]))


def organizations_of_user(*, user) -> QuerySet[Organization]:
    """The user's organizations, each with its owner's id and the user's own role."""
    role = Membership.objects.filter(organization=OuterRef("pk"), user=user).values("role")
    return organizations_with_owner().filter(memberships__user=user).annotate(role=Subquery(role[:1]))


def members_of_organization(*, organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user")


def member_of_organization(*, organization_id: str, user_id: str) -> Membership | None:
    return (
        Membership.objects.select_related("user", "organization")
        .filter(organization_id=organization_id, user_id=user_id)
        .first()
    )


def open_invitations_of_organization(*, organization) -> QuerySet[Invitation]:
    """Invitations still waiting for an answer: pending ones and expired ones (which can be resent)."""
    return (
        Invitation.objects.filter(
            organization=organization, status__in=[InvitationStatus.PENDING, InvitationStatus.EXPIRED]
        )
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


def invitations_of_organization(*, organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organization=organization).select_related("invited_by")


def audit_events_of_organization(*, organization) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(organization=organization).select_related("actor")


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
                .select_related("organization", "user")
                .first()
            )
    request._active_membership = membership
    return membership


def acting_membership(request) -> Membership:
    """The organization and role an API resource endpoint acts with.

    A Bearer key acts in its own organization with its creator's current role (read in the same
    query that authenticated it); the dashboard's session acts in the organization picked in the
    switcher.
    """
    member_role = getattr(request.auth, "member_role", None)
    if member_role is not None:
        return Membership(organization=request.auth.organization, user=request.user, role=member_role)
    membership = active_membership(request)
    if membership is None:
        raise NotFound(code="organization_not_found")
    return membership
