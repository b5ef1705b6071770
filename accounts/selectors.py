from allauth.account.models import EmailAddress
from django.utils import timezone

from apikeys.models import ApiKey
from orgs.selectors import memberships_of_user

from .services import recovery_codes_remaining


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
    personal = next((m.organization for m in memberships if m.organization.is_personal), None)
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
        "two_factor": {
            "enabled": user.two_factor_enabled,
            "methods": ["totp"] if user.two_factor_enabled else [],
            "recovery_codes_remaining": recovery_codes_remaining(user=user),
        },
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
