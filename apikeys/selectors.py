from django.db.models import QuerySet

from .models import ApiKey


def keys_of_organization(*, organization) -> QuerySet[ApiKey]:
    """The organization's keys, newest first, with their creators joined in."""
    return (
        ApiKey.objects.filter(organization=organization)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def key_get_for_organization(*, organization, key_id: str) -> ApiKey | None:
    return ApiKey.objects.filter(organization=organization, id=key_id).select_related("created_by").first()
