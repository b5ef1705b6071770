import re

from orgs.models import Membership
from orgs.services import organization_create


def acme_with(owner, **members_by_role):
    """Acme Inc owned by ``owner``, with e.g. ``admin=bob, developer=dave`` as members."""
    organization = organization_create(user=owner, name="Acme Inc").organization
    for role, user in members_by_role.items():
        Membership.objects.create(organization=organization, user=user, role=role)
    return organization


def dashboard_heading(response) -> str:
    """The text of the dashboard's heading, which names the organization being shown."""
    match = re.search(r'<h1 data-testid="dashboard-heading"[^>]*>(.*?)</h1>', response.content.decode(), re.S)
    assert match, "no dashboard heading"
    return match.group(1).strip()
