"""Leaving, deleting, the audit trail, and query counts that do not grow with members."""

import pytest
from django.test import Client

from accounts.models import User
from apikeys.services import key_create
from orgs.models import AuditEvent, Membership, Organization
from orgs.services import member_leave, organization_create
from tests.orgs.helpers import acme_with, dashboard_heading


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_a_member_leaves_and_their_keys_here_stop(alice, bob, api_as):
    acme = acme_with(alice, developer=bob)
    _key, full_key = key_create(organization=acme, created_by=bob, name="bob's")
    client = signed_in(bob)
    assert "lose access" in client.get(f"/organizations/{acme.id}/leave/").content.decode()
    assert client.post(f"/organizations/{acme.id}/leave/").status_code == 302
    assert not Membership.objects.filter(organization=acme, user=bob).exists()
    assert api_as(full_key).get("/v1/auth/me").status_code == 401
    assert client.get(f"/organizations/{acme.id}/members/").status_code == 404


def test_the_owner_cannot_leave(alice, bob):
    acme = acme_with(alice, developer=bob)
    client = signed_in(alice)
    assert "cannot leave" in client.get(f"/organizations/{acme.id}/leave/").content.decode()
    response = client.post(f"/organizations/{acme.id}/leave/", follow=True)
    assert "Transfer ownership" in response.content.decode()
    assert Membership.objects.get(organization=acme, user=alice).role == "owner"


def test_delete_is_refused_with_the_reason_while_members_remain(alice, bob):
    acme = acme_with(alice, developer=bob)
    client = signed_in(alice)
    page = client.get(f"/organizations/{acme.id}/delete/").content.decode()
    assert "1 other member(s)" in page
    client.post(f"/organizations/{acme.id}/delete/", {"confirm_name": "Acme Inc"})
    acme.refresh_from_db()
    assert acme.deleted_at is None


def test_delete_needs_the_name_typed_then_ends_everything_but_the_record(alice, api_as):
    acme = acme_with(alice)
    _key, full_key = key_create(organization=acme, created_by=alice, name="k")
    client = signed_in(alice)
    client.post(f"/organizations/{acme.id}/delete/", {"confirm_name": "Acme"})
    acme.refresh_from_db()
    assert acme.deleted_at is None
    assert client.post(f"/organizations/{acme.id}/delete/", {"confirm_name": "Acme Inc"}).status_code == 302
    acme.refresh_from_db()
    assert acme.deleted_at is not None
    assert not acme.memberships.exists()
    assert api_as(full_key).get("/v1/auth/me").status_code == 401
    assert AuditEvent.objects.filter(organization=acme, action="organization.deleted").exists()
    assert client.get(f"/organizations/{acme.id}/members/").status_code == 404


def test_every_security_event_is_recorded_with_actor_and_ip(alice, bob, api_as):
    acme = acme_with(alice, developer=bob)
    membership = acme.memberships.get(user=alice)
    client = signed_in(alice)
    client.post(
        f"/organizations/{acme.id}/invitations/",
        {"email": "d@example.com", "role": "developer"},
        REMOTE_ADDR="203.0.113.9",
    )
    client.post(f"/organizations/{acme.id}/members/{bob.id}/role/", {"role": "admin"})
    api_key, _ = key_create(organization=acme, created_by=alice, name="k", ip="203.0.113.9")
    client.post(f"/keys/{api_key.id}/revoke/")
    client.post(
        f"/organizations/{acme.id}/transfer/", {"new_owner": bob.id, "password": "correct horse battery 42"}
    )
    actions = list(
        AuditEvent.objects.filter(organization=acme)
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "organization.created",
        "member.invited",
        "member.role_changed",
        "key.created",
        "key.revoked",
        "ownership.transferred",
    ]
    invited = AuditEvent.objects.get(organization=acme, action="member.invited")
    assert (invited.actor, invited.ip_address, invited.target_label) == (
        alice,
        "203.0.113.9",
        "d@example.com",
    )
    assert membership.user == alice

    page = signed_in(bob).get(f"/organizations/{acme.id}/activity/").content.decode()
    assert "ownership.transferred" in page and "member.invited" in page


def test_audit_events_are_append_only(alice):
    event = AuditEvent.objects.get(organization=acme_with(alice), action="organization.created")
    event.action = "something.else"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()


def test_a_personal_workspace_refuses_members_and_says_what_to_do(alice):
    personal = alice.memberships.get().organization
    response = signed_in(alice).post(
        f"/organizations/{personal.id}/invitations/",
        {"email": "d@example.com", "role": "developer"},
        follow=True,
    )
    assert "Create an organization" in response.content.decode()
    assert not personal.invitations.exists()


def test_the_last_owner_cannot_leave_through_the_service(alice):
    acme = acme_with(alice)
    from core.errors import ServiceError

    with pytest.raises(ServiceError) as error:
        member_leave(membership=acme.memberships.get())
    assert error.value.code == "owner_cannot_leave"


def test_creating_an_organization_from_the_page_makes_it_active(alice):
    client = signed_in(alice)
    response = client.post("/organizations/", {"name": "  Acme   Inc "})
    acme = Organization.objects.get(name="Acme Inc")
    assert response["Location"] == f"/organizations/{acme.id}/members/"
    assert dashboard_heading(client.get("/dashboard/")) == "Acme Inc"


@pytest.mark.parametrize(
    "path", ["/organizations/{org}/members/", "/v1/organizations/{org}/members?limit=100"]
)
def test_member_lists_run_the_same_queries_for_3_and_300_members(
    alice, path, django_assert_num_queries, api_as
):
    acme = organization_create(user=alice, name="Acme Inc").organization
    _key, full_key = key_create(organization=acme, created_by=alice, name="k")
    client = api_as(full_key) if path.startswith("/v1/") else signed_in(alice)
    url = path.format(org=acme.id)

    def add_members(count, start):
        # In bulk: the listing reads users and memberships, not what signing up adds beside them.
        users = User.objects.bulk_create(
            User(email=f"m{index}@example.com", full_name=f"Member {index}")
            for index in range(start, start + count)
        )
        Membership.objects.bulk_create(
            Membership(organization=acme, user=user, role="developer") for user in users
        )

    add_members(2, 0)
    client.get(url)  # warm: last_used_at, session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    add_members(297, 2)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url)
    if path.startswith("/v1/"):
        assert len(response.json()["data"]) == 100 and response.json()["has_more"]
    else:
        assert response.content.decode().count("data-user-id=") == 300


def test_bulk_changes_to_the_audit_trail_are_refused(alice):
    acme_with(alice)
    with pytest.raises(ValueError):
        AuditEvent.objects.update(action="tampered")
    with pytest.raises(ValueError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.filter(action="organization.created").exists()


def test_erasure_removes_the_address_from_the_audit_trail(alice, bob, settings):
    import datetime

    import time_machine
    from django.utils import timezone

    from accounts.services import account_deactivate, accounts_erase_due
    from tests.conftest import PASSWORD

    acme = acme_with(alice, developer=bob)
    member_leave(membership=acme.memberships.get(user=bob))
    account_deactivate(user=bob, password=PASSWORD)
    with time_machine.travel(
        timezone.now() + datetime.timedelta(days=settings.NEXEVO_ERASURE_GRACE_DAYS + 1)
    ):
        assert accounts_erase_due() == 1
    labels = list(AuditEvent.objects.filter(organization=acme).values_list("target_label", flat=True))
    assert not any("bob@example.com" in label for label in labels)


def test_removing_a_membership_in_admin_revokes_the_keys_like_the_members_page(alice, bob, api_as):
    from tests.accounts.helpers import enable_two_factor

    acme = acme_with(alice, developer=bob)
    _key, full_key = key_create(organization=acme, created_by=bob, name="bob's")
    alice.is_staff = alice.is_superuser = True
    alice.save()
    _device, codes = enable_two_factor(alice)
    staff = Client()
    staff.post("/accounts/login/", {"login": alice.email, "password": "correct horse battery 42"})
    staff.post("/accounts/2fa/verify/", {"code": codes[0]})
    bobs = Membership.objects.get(organization=acme, user=bob)
    assert staff.post(f"/admin/orgs/membership/{bobs.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Membership.objects.filter(pk=bobs.pk).exists()
    assert api_as(full_key).get("/v1/auth/me").status_code == 401
    assert AuditEvent.objects.filter(organization=acme, action="member.removed_by_staff").exists()
    owners = Membership.objects.get(organization=acme, role="owner")
    assert staff.get(f"/admin/orgs/membership/{owners.pk}/delete/").status_code == 403


def test_invitations_are_limited_per_organization(alice, settings):
    from core.errors import RateLimited
    from orgs.services import INVITATIONS_PER_HOUR_PER_ORGANIZATION, invitation_create

    acme = acme_with(alice)
    membership = acme.memberships.get()
    for index in range(INVITATIONS_PER_HOUR_PER_ORGANIZATION):
        invitation_create(membership=membership, email=f"d{index}@example.com", role="developer")
    with pytest.raises(RateLimited):
        invitation_create(membership=membership, email="one-too-many@example.com", role="developer")
    assert not acme.invitations.filter(email="one-too-many@example.com").exists()


def test_delete_is_refused_while_the_organization_holds_a_balance(alice):
    from tests.billing.helpers import credit

    acme = acme_with(alice)
    credit(acme, "12.5")
    client = signed_in(alice)
    assert "holds a balance of $12.50" in client.get(f"/organizations/{acme.id}/delete/").content.decode()
    client.post(f"/organizations/{acme.id}/delete/", {"confirm_name": "Acme Inc"})
    acme.refresh_from_db()
    assert acme.deleted_at is None
