"""GET /v1/auth/me, PATCH /v1/auth/profile, POST /v1/auth/change-password, GET /v1/auth/2fa."""

from django.test import Client

from tests.accounts.helpers import enable_two_factor
from tests.conftest import PASSWORD, new_key


def test_me_describes_the_key_owner(api_as, alice, alice_key):
    body = api_as(alice_key[1]).get("/v1/auth/me").json()
    assert body["user_id"] == alice.id and body["user_id"].startswith("u_")
    assert body["email"] == "alice@example.com"
    assert body["full_name"] == "Alice Archer"
    assert body["email_verified"] is True
    assert body["two_fa_enabled"] is False
    assert body["date_joined"].endswith("Z")
    assert body["organizations"] == [
        {"org_id": alice_key[0].organization_id, "name": "Personal workspace", "role": "owner"}
    ]


def test_me_runs_at_most_two_queries(api_as, alice_key, django_assert_max_num_queries):
    client = api_as(alice_key[1])
    client.get("/v1/auth/me")  # the first call of the minute also records last_used_at
    with django_assert_max_num_queries(2):
        assert client.get("/v1/auth/me").status_code == 200


def test_update_profile_changes_the_name(api_as, alice, alice_key):
    response = api_as(alice_key[1]).patch("/v1/auth/profile", {"full_name": "  Jane Doe "}, format="json")
    assert response.status_code == 200
    assert response.json()["full_name"] == "Jane Doe"
    alice.refresh_from_db()
    assert alice.full_name == "Jane Doe"


def test_update_profile_refuses_an_over_long_or_missing_name(api_as, alice, alice_key):
    client = api_as(alice_key[1])
    assert client.patch("/v1/auth/profile", {"full_name": "x" * 151}, format="json").status_code == 400
    response = client.patch("/v1/auth/profile", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "full_name"
    alice.refresh_from_db()
    assert alice.full_name == "Alice Archer"


def test_change_password_needs_the_current_one(api_as, alice, alice_key):
    response = api_as(alice_key[1]).post(
        "/v1/auth/change-password",
        {"current_password": "wrong", "new_password": "a fine new passphrase 9"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_current_password"
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_change_password_refuses_a_weak_one_with_the_validators_message(api_as, alice, alice_key):
    response = api_as(alice_key[1]).post(
        "/v1/auth/change-password", {"current_password": PASSWORD, "new_password": "12345"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "weak_password"
    assert error["param"] == "new_password"
    assert "too short" in error["message"]
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_change_password_ends_every_session(api_as, alice, alice_key):
    browser = Client()
    browser.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    assert browser.get("/dashboard/").status_code == 200

    response = api_as(alice_key[1]).post(
        "/v1/auth/change-password",
        {"current_password": PASSWORD, "new_password": "a fine new passphrase 9"},
        format="json",
    )
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password("a fine new passphrase 9")
    assert browser.get("/dashboard/").status_code == 302
    # Keys are not sessions: the key keeps working.
    assert api_as(alice_key[1]).get("/v1/auth/me").status_code == 200


def test_change_password_from_the_dashboard_keeps_that_session(alice):
    browser = Client()
    browser.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    response = browser.post(
        "/v1/auth/change-password",
        {"current_password": PASSWORD, "new_password": "a fine new passphrase 9"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert browser.get("/dashboard/").status_code == 200


def test_two_fa_status_reports_the_remaining_recovery_codes(api_as, alice, alice_key):
    client = api_as(alice_key[1])
    assert client.get("/v1/auth/2fa").json() == {
        "enabled": False,
        "methods": [],
        "recovery_codes_remaining": 0,
    }
    enable_two_factor(alice)
    assert client.get("/v1/auth/2fa").json() == {
        "enabled": True,
        "methods": ["totp"],
        "recovery_codes_remaining": 10,
    }


def test_every_auth_endpoint_needs_a_key(api, db):
    for method, path in [
        ("get", "/v1/auth/me"),
        ("patch", "/v1/auth/profile"),
        ("post", "/v1/auth/change-password"),
        ("get", "/v1/auth/2fa"),
    ]:
        response = getattr(api, method)(path, {}, format="json")
        assert response.status_code == 401, path
        assert response.json()["error"]["type"] == "authentication_error"


def test_a_key_acts_only_as_its_creator(api_as, alice, bob):
    _key, bobs_key = new_key(bob)
    assert api_as(bobs_key).get("/v1/auth/me").json()["user_id"] == bob.id
    api_as(bobs_key).patch("/v1/auth/profile", {"full_name": "Bob B."}, format="json")
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.full_name, bob.full_name) == ("Alice Archer", "Bob B.")


def test_a_key_stops_working_once_its_creator_is_no_longer_a_member(api_as, alice, alice_key):
    from orgs.models import Membership

    Membership.objects.filter(user=alice, organization=alice_key[0].organization).delete()
    assert api_as(alice_key[1]).get("/v1/auth/me").status_code == 401


def test_update_profile_refuses_a_name_that_is_not_a_string(api_as, alice, alice_key):
    response = api_as(alice_key[1]).patch("/v1/auth/profile", {"full_name": 123}, format="json")
    assert response.status_code == 400
    alice.refresh_from_db()
    assert alice.full_name == "Alice Archer"
