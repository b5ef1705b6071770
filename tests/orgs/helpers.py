from orgs.models import Membership
from orgs.services import organization_create


def acme_with(owner, **members_by_role):
    """Acme Inc owned by ``owner``, with e.g. ``admin=bob, developer=dave`` as members."""
    organization = organization_create(user=owner, name="Acme Inc").organization
    for role, user in members_by_role.items():
        Membership.objects.create(organization=organization, user=user, role=role)
    return organization
