"""Organization services: creation, members and roles, invitations, ownership, deletion."""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import password_confirm
from apikeys.auth_cache import forget_keys_created_by
from apikeys.services import keys_revoke_created_by, keys_revoke_of_organization
from core.email import send_templated_after_commit
from core.errors import NotFound, PermissionDenied, RateLimited, ServiceError
from core.languages import language_for_recipient
from core.money import format_usd
from core.ratelimit import attempt_allowed

from .audit import audit_record
from .models import Invitation, InvitationStatus, Membership, Organization, Role
from .permissions import Action, action_for_managing, require
from .selectors import member_of_organization

PERSONAL_ORGANIZATION_NAME = "Personal workspace"
NAME_MAX_LENGTH = 100
INVITATION_SALT = "orgs.invitation"


@transaction.atomic
def personal_organization_create(*, user) -> Organization:
    """Gives ``user`` the personal organization every user owns. Safe to call twice."""
    existing = Organization.objects.filter(is_personal=True, memberships__user=user).first()
    if existing:
        return existing
    organization = Organization.objects.create(name=PERSONAL_ORGANIZATION_NAME, is_personal=True)
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    _billing_account_open(organization)
    return organization


def _billing_account_open(organization: Organization) -> None:
    """Every organization has its billing account from the start, so that staff can credit it in
    admin before anyone has opened the Billing page."""
    from billing.services import account_for  # billing builds on organizations, not the other way

    account_for(organization)


def _clean_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ServiceError(_("Give the organization a name."), code="invalid_name", param="name")
    name = " ".join(name.split())
    if len(name) > NAME_MAX_LENGTH:
        raise ServiceError(
            _("An organization name has at most %(max)d characters.") % {"max": NAME_MAX_LENGTH},
            code="invalid_name",
            param="name",
        )
    return name


@transaction.atomic
def organization_create(*, user, name: str, ip: str | None = None) -> Membership:
    """A new organization owned by ``user``; returns the owner's membership."""
    organization = Organization.objects.create(name=_clean_name(name))
    membership = Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    _billing_account_open(organization)
    audit_record(
        organization=organization, actor=user, action="organization.created", target=organization, ip=ip
    )
    return membership


@transaction.atomic
def organization_rename(*, membership: Membership, name: str, ip: str | None = None) -> Organization:
    require(membership, Action.OWN)
    organization = membership.organization
    old_name, organization.name = organization.name, _clean_name(name)
    organization.save(update_fields=["name"])
    audit_record(
        organization=organization,
        actor=membership.user,
        action="organization.renamed",
        target=organization,
        ip=ip,
        metadata={"from": old_name, "to": organization.name},
    )
    return organization


@transaction.atomic
def organization_require_key_cap(
    *, membership: Membership, required: bool, ip: str | None = None
) -> Organization:
    """Turns on or off the rule that every new key has a monthly spend cap (apikeys.services.key_create),
    which also keeps any key's cap from being removed while it holds. Owners and admins only."""
    require(membership, Action.LOCK_KEY_LIMITS)
    organization = Organization.objects.select_for_update().get(pk=membership.organization_id)
    if organization.require_key_cap == required:
        return organization
    organization.require_key_cap = required
    organization.save(update_fields=["require_key_cap"])
    audit_record(
        organization=organization,
        actor=membership.user,
        action="organization.key_cap_required" if required else "organization.key_cap_not_required",
        target=organization,
        ip=ip,
    )
    return organization


def organization_deletion_blockers(*, organization: Organization) -> list[str]:
    """Why the organization cannot be deleted now; empty when it can."""
    reasons = []
    if organization.is_personal:
        reasons.append(_("A personal workspace is deleted with its account (Settings → Privacy)."))
    other_members = organization.memberships.exclude(role=Role.OWNER).count()
    if other_members:
        reasons.append(
            _("It still has %(count)d other member(s). Remove them first.") % {"count": other_members}
        )
    from billing.models import BillingAccount  # billing builds on organizations, not the other way

    balance = (
        BillingAccount.objects.filter(organization=organization).values_list("balance_usd", flat=True).first()
    )
    if balance:
        reasons.append(
            _("It holds a balance of $%(balance)s. Spend it, or ask Nexevo support to refund it, first.")
            % {"balance": format_usd(balance)}
        )
    return reasons


@transaction.atomic
def organization_delete(*, membership: Membership, ip: str | None = None) -> None:
    """Ends every membership, pending invitation and key; the row stays for its audit trail."""
    membership = _lock_organization(membership)
    require(membership, Action.OWN)
    organization = membership.organization
    blockers = organization_deletion_blockers(organization=organization)
    if blockers:
        raise ServiceError(" ".join(blockers), code="organization_not_empty", status=409)
    keys_revoke_of_organization(organization=organization)
    organization.invitations.filter(status=InvitationStatus.PENDING).update(status=InvitationStatus.REVOKED)
    audit_record(
        organization=organization,
        actor=membership.user,
        action="organization.deleted",
        target=organization,
        ip=ip,
    )
    organization.memberships.all().delete()
    organization.deleted_at = timezone.now()
    organization.save(update_fields=["deleted_at"])


# --- Members --------------------------------------------------------------------------------------


def _lock_organization(membership: Membership) -> Membership:
    """Locks the organization and re-reads the actor's membership under the lock.

    Changes to who belongs and who owns go one at a time per organization, each deciding on roles
    as they are now (another request may have changed them a moment ago).
    """
    Organization.objects.select_for_update().filter(pk=membership.organization_id).first()
    current = member_of_organization(organization_id=membership.organization_id, user_id=membership.user_id)
    if current is None:
        raise NotFound(code="organization_not_found")
    return current


def _member_get(*, organization, user_id: str) -> Membership:
    member = member_of_organization(organization_id=organization.id, user_id=user_id)
    if member is None:
        raise NotFound(
            _("No member with that id in this organization."), code="member_not_found", param="user_id"
        )
    return member


def _check_role(role) -> str:
    if role not in (Role.ADMIN, Role.DEVELOPER):
        if role == Role.OWNER:
            raise ServiceError(
                _("There is exactly one owner: transfer ownership instead."),
                code="invalid_role",
                param="role",
            )
        raise ServiceError(_("role must be admin or developer."), code="invalid_role", param="role")
    return role


@transaction.atomic
def member_update_role(*, membership: Membership, user_id: str, role: str, ip: str | None = None):
    """Changes a member's role. The actor must be allowed to manage both the old and the new role."""
    role = _check_role(role)
    membership = _lock_organization(membership)
    member = _member_get(organization=membership.organization, user_id=user_id)
    if member.role == Role.OWNER:
        raise PermissionDenied(
            _("The owner's role changes only by transferring ownership."), code="owner_role_fixed"
        )
    require(membership, action_for_managing(member.role))
    require(membership, action_for_managing(role))
    if member.role != role:
        old_role, member.role = member.role, role
        member.save(update_fields=["role"])
        audit_record(
            organization=membership.organization,
            actor=membership.user,
            action="member.role_changed",
            target=member.user,
            ip=ip,
            metadata={"from": old_role, "to": role},
        )
    return member


@transaction.atomic
def member_remove(*, membership: Membership, user_id: str, ip: str | None = None) -> None:
    """Removes a member at once; the keys they created in this organization are revoked."""
    membership = _lock_organization(membership)
    member = _member_get(organization=membership.organization, user_id=user_id)
    if member.role == Role.OWNER:
        raise PermissionDenied(
            _("The owner cannot be removed. Transfer ownership first."), code="owner_cannot_be_removed"
        )
    if member.user_id == membership.user_id:
        raise ServiceError(_("To remove yourself, leave the organization."), code="use_leave")
    require(membership, action_for_managing(member.role))
    _membership_end(member, actor=membership.user, action="member.removed", ip=ip)


@transaction.atomic
def member_leave(*, membership: Membership, ip: str | None = None) -> None:
    membership = _lock_organization(membership)
    if membership.role == Role.OWNER:
        raise ServiceError(
            _(
                "The owner cannot leave. Transfer ownership to another member first, or delete the "
                "organization."
            ),
            code="owner_cannot_leave",
        )
    _membership_end(membership, actor=membership.user, action="member.left", ip=ip)


@transaction.atomic
def membership_end_by_staff(*, member: Membership, staff_user, ip: str | None = None) -> None:
    """Staff removing someone in Django admin: as a removal, never the owner's membership."""
    if member.role == Role.OWNER:
        raise ServiceError(
            _("The owner's membership ends only by transferring ownership."), code="owner_cannot_be_removed"
        )
    _membership_end(member, actor=staff_user, action="member.removed_by_staff", ip=ip)


def _membership_end(member: Membership, *, actor, action: str, ip: str | None) -> None:
    revoked = keys_revoke_created_by(user=member.user, organization=member.organization)
    audit_record(
        organization=member.organization,
        actor=actor,
        action=action,
        target=member.user,
        ip=ip,
        metadata={"role": member.role, "keys_revoked": revoked},
    )
    member.delete()


@transaction.atomic
def ownership_transfer(
    *, membership: Membership, new_owner_user_id: str, ip: str | None = None, password: str | None = None
) -> Membership:
    """Makes another member the owner; the old owner becomes an admin.

    ``password``, when given (the browser asks for it), must be the current owner's.
    """
    if password is not None:
        password_confirm(user=membership.user, password=password)
    membership = _lock_organization(membership)
    require(membership, Action.OWN)
    if new_owner_user_id == membership.user_id:
        raise ServiceError(_("You are the owner already."), code="already_owner", param="new_owner_user_id")
    new_owner = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(organization_id=membership.organization_id, user_id=new_owner_user_id)
        .first()
    )
    if new_owner is None:
        raise ServiceError(
            _("The new owner must already be a member of the organization."),
            code="not_a_member",
            param="new_owner_user_id",
        )
    # The old owner steps down first: the database allows one owner per organization.
    Membership.objects.filter(pk=membership.pk).update(role=Role.ADMIN)
    Membership.objects.filter(pk=new_owner.pk).update(role=Role.OWNER)
    for user_id in (membership.user_id, new_owner.user_id):
        forget_keys_created_by(user_id, membership.organization_id)
        transaction.on_commit(
            lambda user_id=user_id: forget_keys_created_by(user_id, membership.organization_id)
        )
    membership.role = Role.ADMIN
    audit_record(
        organization=membership.organization,
        actor=membership.user,
        action="ownership.transferred",
        target=new_owner.user,
        ip=ip,
        metadata={"from_user_id": membership.user_id, "to_user_id": new_owner.user_id},
    )
    return membership


# --- Invitations ----------------------------------------------------------------------------------


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(invitation.id, salt=INVITATION_SALT, compress=False)


def invitation_accept_url(invitation: Invitation) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("invitation_accept", args=[invitation_token(invitation)])


def _clean_email(email) -> str:
    if not isinstance(email, str):
        raise ServiceError(_("Enter a valid e-mail address."), code="invalid_email", param="email")
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ServiceError(_("Enter a valid e-mail address."), code="invalid_email", param="email") from None
    return email


def _refuse_personal(organization: Organization) -> None:
    if organization.is_personal:
        raise ServiceError(
            _("A personal workspace cannot take members. Create an organization and invite people there."),
            code="personal_organization",
        )


@transaction.atomic
def invitation_create(*, membership: Membership, email: str, role: str, ip: str | None = None) -> Invitation:
    organization = membership.organization
    _refuse_personal(organization)
    role = _check_role(role)
    email = _clean_email(email)
    require(membership, action_for_managing(role))
    if organization.memberships.filter(user__email__iexact=email).exists():
        raise ServiceError(
            _("%(email)s is already a member.") % {"email": email},
            code="already_member",
            param="email",
            status=409,
        )
    now = timezone.now()
    # A pending invitation to this address whose link has run out no longer stands in the way.
    for stale in organization.invitations.filter(
        email=email, status=InvitationStatus.PENDING, expires_at__lte=now
    ).values_list("pk", flat=True):
        _invitation_expire(stale, now=now)
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                organization=organization,
                email=email,
                role=role,
                invited_by=membership.user,
                sent_at=now,
                expires_at=now + timedelta(days=settings.NEXEVO_INVITATION_DAYS),
            )
    except IntegrityError:
        raise ServiceError(
            _("%(email)s has a pending invitation already. Resend it instead.") % {"email": email},
            code="already_invited",
            param="email",
            status=409,
        ) from None
    audit_record(
        organization=organization,
        actor=membership.user,
        action="member.invited",
        target=invitation,
        target_label=email,
        ip=ip,
        metadata={"role": role},
    )
    _invitation_send(invitation)
    return invitation


def _invitation_get(*, organization, invitation_id: str, for_update: bool = False) -> Invitation:
    invitations = Invitation.objects.select_related("organization", "invited_by")
    if for_update:
        invitations = invitations.select_for_update()
    invitation = invitations.filter(organization=organization, id=invitation_id).first()
    if invitation is None:
        raise NotFound(_("No such invitation."), code="invitation_not_found")
    return invitation


@transaction.atomic
def invitation_resend(*, membership: Membership, invitation_id: str, ip: str | None = None) -> Invitation:
    invitation = _invitation_get(
        organization=membership.organization, invitation_id=invitation_id, for_update=True
    )
    require(membership, action_for_managing(invitation.role))
    if invitation.status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
        raise ServiceError(
            _("Only a pending or expired invitation can be resent."),
            code="invitation_not_pending",
            status=409,
        )
    now = timezone.now()
    invitation.status = InvitationStatus.PENDING
    invitation.sent_at = now
    invitation.expires_at = now + timedelta(days=settings.NEXEVO_INVITATION_DAYS)
    try:
        with transaction.atomic():
            invitation.save(update_fields=["status", "sent_at", "expires_at"])
    except IntegrityError:  # an expired one, while a newer invitation to the address is pending
        raise ServiceError(
            _("%(email)s has a newer pending invitation. Resend that one instead.")
            % {"email": invitation.email},
            code="already_invited",
            status=409,
        ) from None
    audit_record(
        organization=invitation.organization,
        actor=membership.user,
        action="invitation.resent",
        target=invitation,
        target_label=invitation.email,
        ip=ip,
    )
    _invitation_send(invitation)
    return invitation


@transaction.atomic
def invitation_revoke(*, membership: Membership, invitation_id: str, ip: str | None = None) -> Invitation:
    invitation = _invitation_get(
        organization=membership.organization, invitation_id=invitation_id, for_update=True
    )
    require(membership, action_for_managing(invitation.role))
    if invitation.status in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
        invitation.status = InvitationStatus.REVOKED
        invitation.save(update_fields=["status"])
        audit_record(
            organization=invitation.organization,
            actor=membership.user,
            action="invitation.revoked",
            target=invitation,
            target_label=invitation.email,
            ip=ip,
        )
    return invitation


def invitations_expire() -> int:
    """Marks the pending invitations whose link has run out as expired (each with an audit event);
    returns how many. Safe to run twice and concurrently: each invitation is claimed by a conditional
    update, so it expires once, and one resent meanwhile is left pending."""
    now = timezone.now()
    due = (
        Invitation.objects.filter(status=InvitationStatus.PENDING, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)
    )
    return sum(_invitation_expire(pk, now=now) for pk in list(due))


@transaction.atomic
def _invitation_expire(invitation_id: str, *, now) -> bool:
    # One conditional update claims it: of two runs, the second finds it expired already (on
    # PostgreSQL it waits for the first's commit and checks the row again), and an invitation
    # resent meanwhile is no longer due.
    claimed = Invitation.objects.filter(
        pk=invitation_id, status=InvitationStatus.PENDING, expires_at__lte=now
    ).update(status=InvitationStatus.EXPIRED)
    if not claimed:
        return False
    invitation = Invitation.objects.select_related("organization").get(pk=invitation_id)
    audit_record(
        organization=invitation.organization,
        actor=None,
        action="invitation.expired",
        target=invitation,
        target_label=invitation.email,
    )
    return True


INVITATIONS_PER_HOUR_PER_ORGANIZATION = 50


def _count_invitation(organization) -> None:
    """Invitations carry a name the sender chose to someone else's inbox: limit how many go out."""
    if not attempt_allowed(
        "invitations", organization.id, limit=INVITATIONS_PER_HOUR_PER_ORGANIZATION, window_seconds=3600
    ):
        raise RateLimited(
            _("Too many invitations from this organization; try again in an hour."), retry_after=3600
        )


def _invitation_send(invitation: Invitation) -> None:
    """In the invitee's language: an account's saved choice (English if they never chose, as every
    e-mail to a user). An address with no account has told us nothing: it gets the language of the
    inviter's page, since a colleague most likely reads what the inviter does (English outside a
    request)."""
    _count_invitation(invitation.organization)
    invitee = User.objects.filter(email__iexact=invitation.email).only("email", "language").first()
    if invitee is not None:
        language = language_for_recipient(invitee)
    else:
        language = language_for_recipient(None, fallback=translation.get_language())
    send_templated_after_commit(
        "orgs/email/invitation",
        to=[invitation.email],
        language=language,
        context={
            "invitation": invitation,
            "organization": invitation.organization,
            "inviter": invitation.invited_by,
            "accept_url": invitation_accept_url(invitation),
            "days": settings.NEXEVO_INVITATION_DAYS,
        },
    )


class InvitationProblem(ServiceError):
    """An invitation link that grants nothing: expired, used, revoked, forged or for someone else."""


def invitation_from_token(token: str) -> Invitation:
    """The invitation behind a link, whatever its state; a forged or garbled link is refused."""
    try:
        invitation_id = signing.loads(token, salt=INVITATION_SALT)
    except signing.BadSignature:
        raise InvitationProblem(
            _("This invitation link is not valid. Check that you copied all of it."),
            code="invitation_invalid",
        ) from None
    invitation = (
        Invitation.objects.select_related("organization", "invited_by").filter(id=invitation_id).first()
    )
    if invitation is None:
        raise InvitationProblem(_("This invitation no longer exists."), code="invitation_invalid")
    return invitation


def invitation_check(invitation: Invitation, *, user=None) -> None:
    """Raises ``InvitationProblem`` with the reason unless ``user`` may accept ``invitation`` now."""
    if invitation.status == InvitationStatus.ACCEPTED:
        raise InvitationProblem(_("This invitation has been used already."), code="invitation_used")
    if invitation.status == InvitationStatus.REVOKED or invitation.organization.deleted_at:
        raise InvitationProblem(
            _("This invitation was withdrawn. Ask for a new one."), code="invitation_revoked"
        )
    if invitation.status == InvitationStatus.EXPIRED or invitation.expires_at <= timezone.now():
        raise InvitationProblem(
            _("This invitation expired. Ask %(inviter)s for a new one.")
            % {"inviter": invitation.invited_by.get_full_name()},
            code="invitation_expired",
        )
    if user is not None and user.email.lower() != invitation.email.lower():
        raise InvitationProblem(
            _(
                "This invitation is for %(email)s, but you are signed in as %(current)s. Sign out and "
                "sign in (or sign up) as %(email)s."
            )
            % {"email": invitation.email, "current": user.email},
            code="invitation_other_address",
        )


@transaction.atomic
def invitation_accept(*, token: str, user, ip: str | None = None) -> Membership:
    """Makes ``user`` a member with the invited role; the link cannot be used again."""
    invitation = invitation_from_token(token)
    # Lock the organization first: deactivating its owner locks it too (accounts.services).
    Organization.objects.select_for_update().filter(pk=invitation.organization_id).first()
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("organization", "invited_by")
        .get(pk=invitation.pk)
    )
    invitation_check(invitation, user=user)
    organization = invitation.organization
    if organization.memberships.filter(user=user).exists():
        raise InvitationProblem(
            _("You are a member of %(name)s already.") % {"name": organization.name}, code="already_member"
        )
    membership = Membership.objects.create(organization=organization, user=user, role=invitation.role)
    invitation.status = InvitationStatus.ACCEPTED
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["status", "accepted_by", "accepted_at"])
    audit_record(
        organization=organization,
        actor=user,
        action="member.joined",
        target=user,
        ip=ip,
        metadata={"role": invitation.role, "invitation_id": invitation.id},
    )
    return membership
