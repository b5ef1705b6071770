from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken

from apikeys.models import ApiKey
from orgs.models import Membership, Organization, Role
from orgs.selectors import memberships_of_user, personal_organization_of_user

from .models import User


def recovery_codes_remaining(*, user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def two_factor_status(*, user) -> dict:
    """API.md's ``{"enabled", "methods", "recovery_codes_remaining"}``."""
    return {
        "enabled": user.two_factor_enabled,
        "methods": ["totp"] if user.two_factor_enabled else [],
        "recovery_codes_remaining": recovery_codes_remaining(user=user),
    }


def organizations_blocking_deactivation(*, user):
    """Organizations the user solely owns that other active people still belong to."""
    owned = Membership.objects.filter(user=user, role=Role.OWNER).values("organization_id")
    return (
        Organization.objects.filter(id__in=owned, is_personal=False)
        .annotate(active_members=Count("memberships", filter=Q(memberships__user__is_active=True)))
        .filter(active_members__gt=1)
        .order_by("name")
    )


def accounts_due_for_erasure():
    due_before = timezone.now() - timedelta(days=settings.NEXEVO_ERASURE_GRACE_DAYS)
    return User.objects.filter(is_active=False, deactivated_at__lte=due_before, erased_at__isnull=True)


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _key_metadata(api_key: ApiKey) -> dict:
    return {
        "key_id": api_key.id,
        "name": api_key.name,
        "display": api_key.display,
        "org_id": api_key.organization_id,
        "created_at": _iso(api_key.created_at),
        "last_used_at": _iso(api_key.last_used_at),
        "revoked_at": _iso(api_key.revoked_at),
    }


def account_export(*, user) -> dict:
    """Everything the console holds about ``user``, for the GDPR export. Never a secret or hash."""
    memberships = list(memberships_of_user(user=user))
    personal = personal_organization_of_user(user=user)
    created_keys = ApiKey.objects.filter(created_by=user).order_by("created_at")
    personal_keys = ApiKey.objects.filter(organization=personal).order_by("created_at") if personal else []
    return {
        "exported_at": _iso(timezone.now()),
        "user": {
            "user_id": user.id,
            "email": user.email,
            "full_name": user.full_name,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
            "email_verified": user.email_verified,
        },
        "email_addresses": [
            {"email": address.email, "verified": address.verified, "primary": address.primary}
            for address in EmailAddress.objects.filter(user=user).order_by("email")
        ],
        "two_factor": two_factor_status(user=user),
        "memberships": [
            {
                "org_id": membership.organization_id,
                "name": membership.organization.name,
                "role": membership.role,
                "personal": membership.organization.is_personal,
                "joined_at": _iso(membership.joined_at),
            }
            for membership in memberships
        ],
        "api_keys_created": [_key_metadata(api_key) for api_key in created_keys],
        "personal_workspace": {
            "org_id": personal.id if personal else None,
            "name": personal.name if personal else None,
            "api_keys": [_key_metadata(api_key) for api_key in personal_keys],
        },
    }
