from django.test import Client

from apikeys.models import ApiKey
from orgs.models import Membership, Organization
from tests.conftest import new_key


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_shows_the_new_key_once(alice, api_as):
    client = signed_in(alice)
    response = client.post("/keys/", {"name": "prod-2026"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    full_key = response.context["full_key"]
    assert full_key.startswith("nx_") and full_key in response.content.decode()
    assert api_as(full_key).get("/v1/auth/me").status_code == 200

    listing = client.get("/keys/").content.decode()
    assert full_key not in listing
    assert ApiKey.objects.get().display in listing


def test_it_refuses_a_missing_or_over_long_name(alice):
    client = signed_in(alice)
    assert "Give the key a name." in client.post("/keys/", {"name": ""}).content.decode()
    assert "at most 100 characters" in client.post("/keys/", {"name": "k" * 101}).content.decode()
    assert not ApiKey.objects.exists()


def test_it_shows_an_empty_state(alice):
    assert "No keys yet" in signed_in(alice).get("/keys/").content.decode()


def test_it_revokes_after_confirmation(alice, api_as):
    api_key, full_key = new_key(alice)
    client = signed_in(alice)
    confirm = client.get(f"/keys/{api_key.id}/revoke/")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at is None  # showing the question changes nothing

    assert client.post(f"/keys/{api_key.id}/revoke/").status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert api_as(full_key).get("/v1/auth/me").status_code == 401


def test_an_outsider_cannot_see_or_revoke_a_key(alice, charlie):
    api_key, _ = new_key(alice)
    client = signed_in(charlie)
    assert api_key.name not in client.get("/keys/").content.decode()
    assert client.get(f"/keys/{api_key.id}/revoke/").status_code == 404
    assert client.post(f"/keys/{api_key.id}/revoke/").status_code == 404
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_a_developer_can_revoke_only_their_own_keys(alice, bob):
    acme = Organization.objects.create(name="Acme Inc")
    Membership.objects.create(organization=acme, user=alice, role="owner")
    Membership.objects.create(organization=acme, user=bob, role="developer")
    from apikeys.services import key_create

    alices_key, _ = key_create(organization=acme, created_by=alice, name="alice's")
    bobs_key, _ = key_create(organization=acme, created_by=bob, name="bob's")
    client = signed_in(bob)
    client.post("/organizations/switch/", {"organization_id": acme.id})
    assert client.post(f"/keys/{alices_key.id}/revoke/").status_code == 404
    assert client.post(f"/keys/{bobs_key.id}/revoke/").status_code == 302
    alices_key.refresh_from_db()
    bobs_key.refresh_from_db()
    assert alices_key.revoked_at is None and bobs_key.revoked_at is not None


def test_the_page_runs_the_same_queries_for_3_and_30_keys(alice, django_assert_max_num_queries):
    client = signed_in(alice)
    for index in range(3):
        new_key(alice, name=f"k{index}")
    with django_assert_max_num_queries(12) as few:
        client.get("/keys/")
    for index in range(27):
        new_key(alice, name=f"more{index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/keys/")


def test_the_switcher_refuses_an_organization_the_user_is_not_in(alice, charlie):
    client = signed_in(charlie)
    acme = Organization.objects.create(name="Acme Inc")
    Membership.objects.create(organization=acme, user=alice, role="owner")
    client.post("/organizations/switch/", {"organization_id": acme.id})
    assert "Acme Inc" not in client.get("/dashboard/").content.decode()
