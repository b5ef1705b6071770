from django.db import transaction

from .models import Membership, Organization, Role

PERSONAL_ORGANIZATION_NAME = "Personal workspace"


@transaction.atomic
def personal_organization_create(*, user) -> Organization:
    """Gives ``user`` the personal organization every user owns. Safe to call twice."""
    existing = Organization.objects.filter(is_personal=True, memberships__user=user).first()
    if existing:
        return existing
    organization = Organization.objects.create(name=PERSONAL_ORGANIZATION_NAME, is_personal=True)
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    return organization
