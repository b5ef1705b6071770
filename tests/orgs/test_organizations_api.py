"""The organizations API: create, list, get, invitations, members, transfer."""

import pytest
from django.core import mail

from apikeys.services import key_create
from orgs.models import AuditEvent, Invitation, Membership, Organization
from orgs.services import invitation_token
from tests.conftest import make_user, new_key
from tests.orgs.helpers import acme_with


@pytest.fixture
def alice_api(api_as, alice_key):
    return api_as(alice_key[1])


def test_create_makes_the_caller_owner(alice_api, alice):
    response = alice_api.post("/v1/organizations", {"name": "Acme Inc"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["membership"] == {"role": "owner"}
    organization = body["organization"]
    assert organization["org_id"].startswith("org_") and organization["name"] == "Acme Inc"
    assert organization["owner_user_id"] == alice.id and organization["personal"] is False
    assert (
        AuditEvent.objects.filter(
            organization_id=organization["org_id"], action="organization.created"
        ).count()
        == 1
    )


def test_create_with_an_idempotency_key_creates_once(alice_api):
    first = alice_api.post(
        "/v1/organizations", {"name": "Acme Inc"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    again = alice_api.post(
        "/v1/organizations", {"name": "Acme Inc"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Organization.objects.filter(name="Acme Inc").count() == 1
    other = alice_api.post("/v1/organizations", {"name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 5}])
def test_create_refuses_a_bad_name(alice_api, body):
    before = Organization.objects.count()
    response = alice_api.post("/v1/organizations", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "name"
    assert Organization.objects.count() == before


def test_list_and_get_show_only_the_callers_organizations(alice_api, alice, charlie):
    acme = acme_with(alice)
    acme_with(charlie)  # Charlie's own "Acme Inc"
    listed = alice_api.get("/v1/organizations").json()
    assert [(o["name"], o["role"]) for o in listed["data"]] == [
        ("Personal workspace", "owner"),
        ("Acme Inc", "owner"),
    ]
    assert listed["has_more"] is False
    assert alice_api.get(f"/v1/organizations/{acme.id}").json()["organization"]["org_id"] == acme.id


def test_invite_sends_a_plain_and_html_email_after_commit(
    alice_api, alice, django_capture_on_commit_callbacks
):
    acme = acme_with(alice)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = alice_api.post(
            f"/v1/organizations/{acme.id}/invitations",
            {"email": "Dev@Acme.com", "role": "developer"},
            format="json",
        )
        assert mail.outbox == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    assert response.status_code == 201
    invitation = response.json()["invitation"]
    assert invitation["invitation_id"].startswith("inv_")
    assert (invitation["email"], invitation["role"], invitation["status"]) == (
        "dev@acme.com",
        "developer",
        "pending",
    )
    message = mail.outbox[0]
    assert message.to == ["dev@acme.com"]
    assert "Alice Archer" in message.subject and "Acme Inc" in message.subject
    assert "/invitations/" in message.body and "Acme Inc" in message.body
    html = message.alternatives[0][0]
    assert "Acme Inc" in html and "Alice Archer" in html


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "not-an-address", "role": "developer"}, "invalid_email"),
        ({"email": "x@example.com", "role": "superuser"}, "invalid_role"),
        ({"email": "x@example.com", "role": "owner"}, "invalid_role"),
        ({"email": "bob@example.com", "role": "developer"}, "already_member"),
    ],
)
def test_invite_refuses_bad_input_and_changes_nothing(alice_api, alice, bob, body, code):
    acme = acme_with(alice, developer=bob)
    response = alice_api.post(f"/v1/organizations/{acme.id}/invitations", body, format="json")
    assert response.status_code in (400, 409)
    assert response.json()["error"]["code"] == code
    assert not Invitation.objects.exists()


def test_invite_twice_is_a_conflict(alice_api, alice):
    acme = acme_with(alice)
    url = f"/v1/organizations/{acme.id}/invitations"
    alice_api.post(url, {"email": "dev@acme.com", "role": "developer"}, format="json")
    response = alice_api.post(url, {"email": "dev@acme.com", "role": "admin"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_invited"


def test_a_personal_workspace_takes_no_members(alice_api, alice_key):
    response = alice_api.post(
        f"/v1/organizations/{alice_key[0].organization_id}/invitations",
        {"email": "dev@acme.com", "role": "developer"},
        format="json",
    )
    assert response.status_code == 400
    assert "Create an organization" in response.json()["error"]["message"]


def test_list_and_revoke_invitations(alice_api, alice):
    acme = acme_with(alice)
    url = f"/v1/organizations/{acme.id}/invitations"
    invitation_id = alice_api.post(url, {"email": "dev@acme.com", "role": "developer"}, format="json").json()[
        "invitation"
    ]["invitation_id"]
    assert [i["invitation_id"] for i in alice_api.get(url).json()["data"]] == [invitation_id]
    revoked = alice_api.delete(f"{url}/{invitation_id}")
    assert revoked.status_code == 200 and revoked.json()["invitation"]["status"] == "revoked"


def test_members_update_and_remove(alice_api, alice, bob, api_as):
    acme = acme_with(alice, developer=bob)
    _bobs_key, bobs_full_key = key_create(organization=acme, created_by=bob, name="bob's")
    members_url = f"/v1/organizations/{acme.id}/members"
    members = alice_api.get(members_url).json()["data"]
    assert [(m["email"], m["role"]) for m in members] == [
        ("alice@example.com", "owner"),
        ("bob@example.com", "developer"),
    ]
    assert set(members[0]) == {"user_id", "email", "full_name", "role", "joined_at"}

    updated = alice_api.patch(f"{members_url}/{bob.id}", {"role": "admin"}, format="json")
    assert updated.status_code == 200 and updated.json()["role"] == "admin"

    assert api_as(bobs_full_key).get("/v1/auth/me").status_code == 200
    assert alice_api.delete(f"{members_url}/{bob.id}").status_code == 204
    assert not Membership.objects.filter(organization=acme, user=bob).exists()
    assert api_as(bobs_full_key).get("/v1/auth/me").status_code == 401  # revoked at once


def test_a_role_change_reaches_the_members_keys_on_their_next_request(alice_api, alice, bob, api_as):
    acme = acme_with(alice, admin=bob)
    _key, bobs_full_key = key_create(organization=acme, created_by=bob, name="bob's")
    bob_api = api_as(bobs_full_key)
    url = f"/v1/organizations/{acme.id}/invitations"
    assert bob_api.post(url, {"email": "d1@acme.com", "role": "developer"}, format="json").status_code == 201
    alice_api.patch(f"/v1/organizations/{acme.id}/members/{bob.id}", {"role": "developer"}, format="json")
    assert bob_api.post(url, {"email": "d2@acme.com", "role": "developer"}, format="json").status_code == 403


def test_transfer_owner(alice_api, alice, bob):
    acme = acme_with(alice, developer=bob)
    response = alice_api.post(
        f"/v1/organizations/{acme.id}/transfer-owner", {"new_owner_user_id": bob.id}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["membership"] == {"role": "admin"}
    assert response.json()["organization"]["owner_user_id"] == bob.id
    roles = dict(Membership.objects.filter(organization=acme).values_list("user__email", "role"))
    assert roles == {"alice@example.com": "admin", "bob@example.com": "owner"}


def test_transfer_to_a_non_member_changes_nothing(alice_api, alice, charlie):
    acme = acme_with(alice)
    for target in [charlie.id, "u_doesnotexist", alice.id]:
        response = alice_api.post(
            f"/v1/organizations/{acme.id}/transfer-owner", {"new_owner_user_id": target}, format="json"
        )
        assert response.status_code == 400, target
    assert Membership.objects.get(organization=acme).role == "owner"


def test_the_owner_cannot_be_removed_or_demoted(alice, bob, api_as):
    acme = acme_with(alice, admin=bob)
    _key, bobs_full_key = key_create(organization=acme, created_by=bob, name="bob's")
    bob_api = api_as(bobs_full_key)
    assert bob_api.delete(f"/v1/organizations/{acme.id}/members/{alice.id}").status_code == 403
    response = bob_api.patch(
        f"/v1/organizations/{acme.id}/members/{alice.id}", {"role": "developer"}, format="json"
    )
    assert response.status_code == 403
    assert Membership.objects.get(organization=acme, user=alice).role == "owner"


def test_accepting_an_invitation_twice_grants_once(alice, client, django_capture_on_commit_callbacks):
    acme = acme_with(alice)
    dana = make_user("dana@example.com")
    from orgs.services import invitation_create

    invitation = invitation_create(membership=acme.memberships.get(), email=dana.email, role="developer")
    client.force_login(dana)
    url = f"/invitations/{invitation_token(invitation)}/"
    assert client.post(url).status_code == 302
    second = client.post(url)
    assert second.status_code == 200 and "You have joined Acme Inc" in second.content.decode()
    assert Membership.objects.filter(organization=acme, user=dana).count() == 1
    assert AuditEvent.objects.filter(organization=acme, action="member.joined").count() == 1


def test_key_from_one_organization_manages_another_only_through_membership(alice, charlie, api_as):
    acme = acme_with(alice)
    _key, charlies_key = new_key(charlie)
    response = api_as(charlies_key).get(f"/v1/organizations/{acme.id}/members")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "organization_not_found"


def test_the_plain_text_invitation_is_not_html_escaped(alice, django_capture_on_commit_callbacks):
    from orgs.services import invitation_create, organization_create

    alice.full_name = "Zoë O'Brien"
    alice.save()
    membership = organization_create(user=alice, name="R&D <Lab>")
    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(membership=membership, email="dev@example.com", role="developer")
    message = mail.outbox[0]
    assert "Zoë O'Brien" in message.subject and "R&D <Lab>" in message.subject
    assert "R&D <Lab>" in message.body and "&amp;" not in message.body
    assert "R&amp;D &lt;Lab&gt;" in message.alternatives[0][0]  # the HTML part stays escaped
