"""Every organization page and endpoint × {owner, admin, developer, outsider, anonymous}.

The allowed succeed; a role too low gets 403; an outsider gets 404, exactly as for an organization
that does not exist; anonymous gets 401 (API) or the log-in page; and a refusal changes nothing.
"""

import pytest
from django.test import Client

from apikeys.models import ApiKey
from apikeys.services import key_create
from orgs.models import AuditEvent, Invitation, Membership, Organization
from orgs.services import invitation_create
from tests.conftest import PASSWORD, make_user, new_key
from tests.orgs.helpers import acme_with

ROLES = ["owner", "admin", "developer", "outsider", "anonymous"]


@pytest.fixture
def world(db):
    """Acme with an owner, an admin and a developer acting, plus an extra admin and developer as
    targets, a pending invitation for each role, and an outsider with a key of their own."""
    people = {
        name: make_user(f"{name}@example.com", full_name=name.title())
        for name in ["owner", "admin", "developer", "outsider", "target_admin", "target_developer"]
    }
    acme = acme_with(
        people["owner"],
        admin=people["admin"],
        developer=people["developer"],
    )
    Membership.objects.create(organization=acme, user=people["target_admin"], role="admin")
    Membership.objects.create(organization=acme, user=people["target_developer"], role="developer")
    owner_membership = acme.memberships.get(user=people["owner"])
    invitations = {
        role: invitation_create(membership=owner_membership, email=f"invited-{role}@example.com", role=role)
        for role in ["admin", "developer"]
    }
    keys = {
        name: key_create(organization=acme, created_by=people[name], name=name)[1]
        for name in ["owner", "admin", "developer"]
    }
    keys["outsider"] = new_key(people["outsider"])[1]
    return {"acme": acme, "people": people, "invitations": invitations, "keys": keys}


def snapshot():
    return (
        sorted(Membership.objects.values_list("organization_id", "user_id", "role")),
        sorted(Invitation.objects.values_list("id", "status", "expires_at")),
        sorted(Organization.objects.values_list("id", "name", "deleted_at")),
        sorted(ApiKey.objects.values_list("id", "revoked_at")),
        AuditEvent.objects.count(),
    )


# (name, method, path, body, roles allowed, status when allowed)
API_CASES = [
    ("get organization", "get", "/v1/organizations/{org}", None, {"owner", "admin", "developer"}, 200),
    ("list members", "get", "/v1/organizations/{org}/members", None, {"owner", "admin", "developer"}, 200),
    ("list invitations", "get", "/v1/organizations/{org}/invitations", None, {"owner", "admin"}, 200),
    (
        "invite developer",
        "post",
        "/v1/organizations/{org}/invitations",
        {"email": "new@example.com", "role": "developer"},
        {"owner", "admin"},
        201,
    ),
    (
        "invite admin",
        "post",
        "/v1/organizations/{org}/invitations",
        {"email": "new@example.com", "role": "admin"},
        {"owner"},
        201,
    ),
    (
        "revoke developer invitation",
        "delete",
        "/v1/organizations/{org}/invitations/{inv_developer}",
        None,
        {"owner", "admin"},
        200,
    ),
    (
        "revoke admin invitation",
        "delete",
        "/v1/organizations/{org}/invitations/{inv_admin}",
        None,
        {"owner"},
        200,
    ),
    (
        "promote developer",
        "patch",
        "/v1/organizations/{org}/members/{target_developer}",
        {"role": "admin"},
        {"owner"},
        200,
    ),
    (
        "demote admin",
        "patch",
        "/v1/organizations/{org}/members/{target_admin}",
        {"role": "developer"},
        {"owner"},
        200,
    ),
    (
        "remove developer",
        "delete",
        "/v1/organizations/{org}/members/{target_developer}",
        None,
        {"owner", "admin"},
        204,
    ),
    ("remove admin", "delete", "/v1/organizations/{org}/members/{target_admin}", None, {"owner"}, 204),
    (
        "transfer ownership",
        "post",
        "/v1/organizations/{org}/transfer-owner",
        {"new_owner_user_id": "{target_developer}"},
        {"owner"},
        200,
    ),
]

PAGE_CASES = [
    ("members page", "get", "/organizations/{org}/members/", None, {"owner", "admin", "developer"}, 200),
    ("settings page", "get", "/organizations/{org}/settings/", None, {"owner", "admin", "developer"}, 200),
    ("activity page", "get", "/organizations/{org}/activity/", None, {"owner", "admin"}, 200),
    ("rename", "post", "/organizations/{org}/settings/", {"name": "Renamed"}, {"owner"}, 302),
    (
        "invite developer",
        "post",
        "/organizations/{org}/invitations/",
        {"email": "new@example.com", "role": "developer"},
        {"owner", "admin"},
        302,
    ),
    (
        "invite admin",
        "post",
        "/organizations/{org}/invitations/",
        {"email": "new@example.com", "role": "admin"},
        {"owner"},
        302,
    ),
    (
        "resend developer invitation",
        "post",
        "/organizations/{org}/invitations/{inv_developer}/resend/",
        {},
        {"owner", "admin"},
        302,
    ),
    (
        "revoke admin invitation",
        "post",
        "/organizations/{org}/invitations/{inv_admin}/revoke/",
        {},
        {"owner"},
        302,
    ),
    (
        "promote developer",
        "post",
        "/organizations/{org}/members/{target_developer}/role/",
        {"role": "admin"},
        {"owner"},
        302,
    ),
    (
        "remove developer (question)",
        "get",
        "/organizations/{org}/members/{target_developer}/remove/",
        None,
        {"owner", "admin"},
        200,
    ),
    (
        "remove developer",
        "post",
        "/organizations/{org}/members/{target_developer}/remove/",
        {},
        {"owner", "admin"},
        302,
    ),
    ("remove admin", "post", "/organizations/{org}/members/{target_admin}/remove/", {}, {"owner"}, 302),
    (
        "transfer ownership",
        "post",
        "/organizations/{org}/transfer/",
        {"new_owner": "{target_developer}", "password": PASSWORD},
        {"owner"},
        302,
    ),
    ("delete (question)", "get", "/organizations/{org}/delete/", None, {"owner"}, 200),
]


def fill(template, world):
    values = {
        "org": world["acme"].id,
        "inv_developer": world["invitations"]["developer"].id,
        "inv_admin": world["invitations"]["admin"].id,
        "target_developer": world["people"]["target_developer"].id,
        "target_admin": world["people"]["target_admin"].id,
    }
    if isinstance(template, dict):
        return {key: fill(value, world) for key, value in template.items()}
    return template.format(**values) if isinstance(template, str) else template


def case_id(case):
    return case[0].replace(" ", "-")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", API_CASES, ids=case_id)
def test_api(world, api_as, api, role, case):
    _name, method, path, body, allowed, allowed_status = case
    client = api if role == "anonymous" else api_as(world["keys"][role])
    before = snapshot()
    response = getattr(client, method)(fill(path, world), fill(body, world), format="json")
    if role in allowed:
        assert response.status_code == allowed_status, response.content
        return
    expected = {"anonymous": 401, "outsider": 404}.get(role, 403)
    assert response.status_code == expected, response.content
    assert (
        response.json()["error"]["type"]
        in {401: "authentication_error", 403: "permission_error", 404: "invalid_request_error"}[expected]
    )
    assert snapshot() == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", PAGE_CASES, ids=case_id)
def test_page(world, role, case):
    _name, method, path, body, allowed, allowed_status = case
    client = Client()
    if role != "anonymous":
        client.force_login(world["people"][role])
    before = snapshot()
    url = fill(path, world)
    response = client.get(url) if method == "get" else client.post(url, fill(body, world))
    if role in allowed:
        assert response.status_code == allowed_status, response.content[:500]
        if method == "post":
            assert snapshot() != before
        return
    if role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == {"outsider": 404}.get(role, 403)
    assert snapshot() == before


def test_an_unknown_organization_looks_exactly_like_an_outsiders(world, api_as):
    client = api_as(world["keys"]["outsider"])
    unknown = client.get("/v1/organizations/org_doesnotexist000000000000/members")
    theirs = client.get(f"/v1/organizations/{world['acme'].id}/members")
    assert (unknown.status_code, unknown.json()) == (theirs.status_code, theirs.json())
