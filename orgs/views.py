import functools

from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from core.errors import ServiceError
from core.pagination import paginate, parse_limit
from core.web import focus_first_error, form_error_from_service, pager, service_error_response

from . import services
from .audit import client_ip
from .forms import (
    DeleteOrganizationForm,
    InviteForm,
    KeyPolicyForm,
    OrganizationNameForm,
    TransferOwnershipForm,
)
from .models import Role
from .permissions import Action, action_for_managing, can, require
from .selectors import (
    ACTIVE_ORGANIZATION_SESSION_KEY,
    PENDING_INVITATION_SESSION_KEY,
    audit_events_of_organization,
    member_of_organization,
    members_of_organization,
    membership_get,
    memberships_of_user,
    open_invitations_of_organization,
)


def organization_page(view):
    """Loads the caller's membership in ``org_id`` (404 for outsiders) and makes it the active one."""

    @functools.wraps(view)
    @login_required
    def wrapper(request, org_id, *args, **kwargs):
        membership = membership_get(user=request.user, organization_id=org_id)
        if membership is None:
            raise Http404
        request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = membership.organization_id
        request._active_membership = membership
        return view(request, membership, *args, **kwargs)

    return wrapper


def _safe_next(request, fallback: str) -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return fallback


@require_POST
@login_required
def organization_switch(request):
    membership = membership_get(user=request.user, organization_id=request.POST.get("organization_id", ""))
    if membership is None:
        messages.error(request, _("You are not a member of that organization."))
    else:
        request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = membership.organization_id
        messages.success(request, _("Now showing %(name)s.") % {"name": membership.organization.name})
    return redirect(_safe_next(request, "dashboard"))


@login_required
def organization_list(request):
    form = OrganizationNameForm(request.POST if request.method == "POST" else None)
    if form.is_valid():  # only a POST binds it
        try:
            membership = services.organization_create(
                user=request.user, name=form.cleaned_data["name"], ip=client_ip(request)
            )
        except ServiceError as error:
            form_error_from_service(form, error)
        else:
            request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = membership.organization_id
            messages.success(
                request, _("%(name)s is ready. Invite your team.") % {"name": membership.organization.name}
            )
            return redirect("organization_members", org_id=membership.organization_id)
    if form.errors:
        focus_first_error(form)
    return render(
        request,
        "orgs/organization_list.html",
        {
            "form": form,
            "memberships": memberships_of_user(user=request.user),
        },
        status=400 if form.is_bound else 200,
    )


@organization_page
def organization_members(request, membership):
    return _members_page(request, membership)


def _members_page(request, membership, *, invite_form=None, status=200):
    organization = membership.organization
    members = list(members_of_organization(organization=organization).order_by("joined_at", "id"))
    invitations = list(open_invitations_of_organization(organization=organization))
    invitable_roles = _invitable_roles(membership)
    if invite_form is None:
        invite_form = InviteForm(allowed_roles=invitable_roles)
    else:  # a form sent back: offer the roles this member may invite, as the first time
        invite_form.fields["role"].choices = InviteForm(allowed_roles=invitable_roles).fields["role"].choices
        focus_first_error(invite_form)
    return render(
        request,
        "orgs/members.html",
        {
            "membership": membership,
            "members": members,
            "invitations": invitations,
            "invite_form": invite_form,
            "manageable_roles": invitable_roles,
            "now": timezone.now(),
        },
        status=status,
    )


def _invitable_roles(membership) -> list[str]:
    return [role for role in (Role.ADMIN, Role.DEVELOPER) if can(membership, action_for_managing(role))]


@require_POST
@organization_page
def invitation_create(request, membership):
    # Any role parses; whether this member may invite it is the service's decision (a 403 if not).
    form = InviteForm(request.POST, allowed_roles=[Role.ADMIN, Role.DEVELOPER])
    if form.is_valid():
        try:
            invitation = services.invitation_create(
                membership=membership, ip=client_ip(request), **form.cleaned_data
            )
        except ServiceError as error:
            if error.status in (403, 404):
                return service_error_response(
                    request, error, back_to="organization_members", org_id=membership.organization_id
                )
            form_error_from_service(form, error)
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
            return redirect("organization_members", org_id=membership.organization_id)
    return _members_page(request, membership, invite_form=form, status=400)


def _invitation_action(request, membership, service, invitation_id, success: str):
    try:
        invitation = service(membership=membership, invitation_id=invitation_id, ip=client_ip(request))
    except ServiceError as error:
        return service_error_response(
            request, error, back_to="organization_members", org_id=membership.organization_id
        )
    messages.success(request, success % {"email": invitation.email})
    return redirect("organization_members", org_id=membership.organization_id)


@require_POST
@organization_page
def invitation_resend(request, membership, invitation_id):
    return _invitation_action(
        request,
        membership,
        services.invitation_resend,
        invitation_id,
        _("Invitation sent to %(email)s again."),
    )


@require_POST
@organization_page
def invitation_revoke(request, membership, invitation_id):
    return _invitation_action(
        request,
        membership,
        services.invitation_revoke,
        invitation_id,
        _("Invitation to %(email)s withdrawn."),
    )


@require_POST
@organization_page
def member_role_change(request, membership, user_id):
    try:
        member = services.member_update_role(
            membership=membership, user_id=user_id, role=request.POST.get("role", ""), ip=client_ip(request)
        )
    except ServiceError as error:
        return service_error_response(
            request, error, back_to="organization_members", org_id=membership.organization_id
        )
    messages.success(
        request,
        _("%(who)s is now %(role)s.")
        % {"who": member.user.get_full_name(), "role": member.get_role_display()},
    )
    return redirect("organization_members", org_id=membership.organization_id)


@organization_page
def member_remove(request, membership, user_id):
    member = member_of_organization(organization_id=membership.organization_id, user_id=user_id)
    if member is None:
        raise Http404
    if request.method == "POST":
        try:
            services.member_remove(membership=membership, user_id=user_id, ip=client_ip(request))
        except ServiceError as error:
            return service_error_response(
                request, error, back_to="organization_members", org_id=membership.organization_id
            )
        messages.success(
            request,
            _("%(who)s was removed; their keys here were revoked.") % {"who": member.user.get_full_name()},
        )
        return redirect("organization_members", org_id=membership.organization_id)
    try:
        require(membership, action_for_managing(member.role))
    except ServiceError as error:
        return service_error_response(
            request, error, back_to="organization_members", org_id=membership.organization_id
        )
    return render(request, "orgs/member_remove_confirm.html", {"membership": membership, "member": member})


@organization_page
def organization_leave(request, membership):
    if request.method == "POST":
        try:
            services.member_leave(membership=membership, ip=client_ip(request))
        except ServiceError as error:
            return service_error_response(
                request, error, back_to="organization_members", org_id=membership.organization_id
            )
        request.session.pop(ACTIVE_ORGANIZATION_SESSION_KEY, None)
        messages.success(request, _("You left %(name)s.") % {"name": membership.organization.name})
        return redirect("dashboard")
    return render(request, "orgs/leave_confirm.html", {"membership": membership})


@organization_page
def organization_settings(request, membership):
    organization = membership.organization
    if request.method != "POST":
        return _settings_page(request, membership)
    if request.POST.get("form") == "key_policy":
        return _key_policy_change(request, membership)
    rename_form = OrganizationNameForm(request.POST)
    if rename_form.is_valid():
        try:
            services.organization_rename(
                membership=membership, name=rename_form.cleaned_data["name"], ip=client_ip(request)
            )
        except ServiceError as error:
            if error.status in (403, 404):
                return service_error_response(
                    request, error, back_to="organization_settings", org_id=organization.id
                )
            form_error_from_service(rename_form, error)
        else:
            messages.success(request, _("Renamed."))
            return redirect("organization_settings", org_id=organization.id)
    return _settings_page(request, membership, rename_form=rename_form, status=400)


def _key_policy_change(request, membership):
    form = KeyPolicyForm(request.POST)
    form.is_valid()  # a checkbox: always valid
    try:
        organization = services.organization_require_key_cap(
            membership=membership, required=form.cleaned_data["require_key_cap"], ip=client_ip(request)
        )
    except ServiceError as error:
        return service_error_response(
            request, error, back_to="organization_settings", org_id=membership.organization_id
        )
    if organization.require_key_cap:
        messages.success(request, _("Every new key now needs a monthly spend cap."))
    else:
        messages.success(request, _("New keys no longer need a spend cap."))
    return redirect("organization_settings", org_id=organization.id)


def _settings_page(request, membership, *, rename_form=None, transfer_form=None, status=200):
    organization = membership.organization
    for form in (rename_form, transfer_form):
        if form is not None and form.errors:
            focus_first_error(form)
    others = [
        m for m in members_of_organization(organization=organization) if m.user_id != membership.user_id
    ]
    return render(
        request,
        "orgs/settings.html",
        {
            "membership": membership,
            "rename_form": rename_form or OrganizationNameForm(initial={"name": organization.name}),
            "transfer_form": transfer_form or TransferOwnershipForm(members=others),
            "deletion_blockers": services.organization_deletion_blockers(organization=organization),
            "is_owner": can(membership, Action.OWN),
            "key_policy_form": (
                KeyPolicyForm(initial={"require_key_cap": organization.require_key_cap})
                if can(membership, Action.LOCK_KEY_LIMITS)
                else None
            ),
        },
        status=status,
    )


@require_POST
@organization_page
def ownership_transfer(request, membership):
    others = [
        m
        for m in members_of_organization(organization=membership.organization)
        if m.user_id != membership.user_id
    ]
    form = TransferOwnershipForm(request.POST, members=others)
    if form.is_valid():
        try:
            services.ownership_transfer(
                membership=membership,
                ip=client_ip(request),
                new_owner_user_id=form.cleaned_data["new_owner"],
                password=form.cleaned_data["password"],
            )
        except ServiceError as error:
            if error.status in (403, 404):
                return service_error_response(
                    request, error, back_to="organization_settings", org_id=membership.organization_id
                )
            form_error_from_service(form, error, fields={"new_owner_user_id": "new_owner"})
        else:
            messages.success(request, _("Ownership transferred. You are now an admin."))
            return redirect("organization_members", org_id=membership.organization_id)
    return _settings_page(request, membership, transfer_form=form, status=400)


@organization_page
def organization_delete(request, membership):
    try:
        require(membership, Action.OWN)
    except ServiceError as error:
        return service_error_response(
            request, error, back_to="organization_settings", org_id=membership.organization_id
        )
    organization = membership.organization
    form = DeleteOrganizationForm(
        request.POST if request.method == "POST" else None, organization_name=organization.name
    )
    if form.is_valid():  # only a POST binds it
        try:
            services.organization_delete(membership=membership, ip=client_ip(request))
        except ServiceError as error:
            if error.status in (403, 404):
                return service_error_response(
                    request, error, back_to="organization_delete", org_id=organization.id
                )
            form_error_from_service(form, error)
        else:
            request.session.pop(ACTIVE_ORGANIZATION_SESSION_KEY, None)
            messages.success(request, _("%(name)s was deleted.") % {"name": organization.name})
            return redirect("organization_list")
    if form.errors:
        focus_first_error(form)
    return render(
        request,
        "orgs/delete_confirm.html",
        {
            "membership": membership,
            "form": form,
            "blockers": services.organization_deletion_blockers(organization=organization),
        },
        status=400 if form.is_bound else 200,
    )


@organization_page
def organization_activity(request, membership):
    try:
        require(membership, Action.VIEW_ACTIVITY)
        page = paginate(
            audit_events_of_organization(organization=membership.organization),
            ordering=("-created_at", "-id"),
            limit=parse_limit(request.GET.get("limit"), default=50),
            cursor=request.GET.get("cursor"),
        )
    except ServiceError as error:
        return service_error_response(
            request, error, back_to="organization_members", org_id=membership.organization_id
        )
    return render(
        request, "orgs/activity.html", {"membership": membership, "page": page, "pager": pager(request, page)}
    )


def invitation_accept(request, token):
    """The e-mailed link: explains the invitation, and lets its addressee join."""
    try:
        invitation = services.invitation_from_token(token)
    except services.InvitationProblem as problem:
        return render(request, "orgs/invitation.html", {"problem": problem.message}, status=400)
    user = request.user if request.user.is_authenticated else None
    if (
        user
        and invitation.accepted_by_id == user.id
        and invitation.organization.memberships.filter(user=user).exists()
    ):
        return render(request, "orgs/invitation.html", {"invitation": invitation, "joined": True})
    try:
        services.invitation_check(invitation, user=user)
    except services.InvitationProblem as problem:
        return render(
            request,
            "orgs/invitation.html",
            {"invitation": invitation, "problem": problem.message},
            status=400,
        )

    if user is None:
        # Opening the link proves the address: sign-up through it needs no second e-mail round.
        get_adapter(request).stash_verified_email(request, invitation.email)
        request.session[PENDING_INVITATION_SESSION_KEY] = token
        return render(
            request,
            "orgs/invitation.html",
            {
                "invitation": invitation,
                "has_account": User.objects.filter(email__iexact=invitation.email).exists(),
            },
        )

    if request.method == "POST":
        try:
            membership = services.invitation_accept(token=token, user=user, ip=client_ip(request))
        except services.InvitationProblem as problem:
            return render(
                request,
                "orgs/invitation.html",
                {"invitation": invitation, "problem": problem.message},
                status=400,
            )
        request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = membership.organization_id
        messages.success(request, _("Welcome to %(name)s.") % {"name": membership.organization.name})
        return redirect("dashboard")
    return render(request, "orgs/invitation.html", {"invitation": invitation, "can_accept": True})
