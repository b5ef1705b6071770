"""The organization setting "require a spend cap on every new key": owners and admins turn it on on the
organization's settings page; then a key without a cap is refused, on the keys page and through the
API, and no key's cap can be removed."""

import re
from decimal import Decimal

import pytest
from django.test import Client

from apikeys.models import ApiKey
from apikeys.services import key_create
from orgs.models import AuditEvent, Organization
from tests.conftest import make_user
from tests.orgs.helpers import acme_with


@pytest.fixture
def dana(db):
    return make_user("dana@example.com", full_name="Dana Diaz")


@pytest.fixture
def acme(alice, bob, dana):
    return acme_with(alice, admin=dana, developer=bob)


def signed_in_to(user, organization) -> Client:
    client = Client()
    client.force_login(user)
    client.post("/organizations/switch/", {"organization_id": organization.id})
    return client


def require_caps(client, organization, required: bool):
    body = {"form": "key_policy"}
    if required:
        body["require_key_cap"] = "on"
    return client.post(f"/organizations/{organization.id}/settings/", body)


@pytest.mark.parametrize("persona", ["alice", "dana"])
def test_an_owner_or_admin_requires_a_cap_on_new_keys(acme, persona, request):
    user = request.getfixturevalue(persona)
    client = signed_in_to(user, acme)
    page = client.get(f"/organizations/{acme.id}/settings/").content.decode()
    assert 'name="require_key_cap"' in page

    response = require_caps(client, acme, True)

    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.require_key_cap
    assert AuditEvent.objects.filter(
        organization=acme, action="organization.key_cap_required", actor=user
    ).exists()
    page = client.get(f"/organizations/{acme.id}/settings/").content.decode()
    assert re.search(r"<input type=\"checkbox\" name=\"require_key_cap\"[^>]* checked>", page)

    assert require_caps(client, acme, False).status_code == 302
    acme.refresh_from_db()
    assert not acme.require_key_cap


def test_a_developer_sees_the_setting_but_cannot_change_it(acme, bob):
    client = signed_in_to(bob, acme)
    assert 'name="require_key_cap"' not in client.get(f"/organizations/{acme.id}/settings/").content.decode()
    events = AuditEvent.objects.count()

    response = require_caps(client, acme, True)

    assert response.status_code == 403
    acme.refresh_from_db()
    assert not acme.require_key_cap and AuditEvent.objects.count() == events
    Organization.objects.filter(pk=acme.pk).update(require_key_cap=True)
    page = client.get(f"/organizations/{acme.id}/settings/").content.decode()
    assert "Every new key needs a monthly spend cap." in page


def test_charlie_cannot_change_the_setting(acme, charlie):
    client = Client()
    client.force_login(charlie)
    assert client.get(f"/organizations/{acme.id}/settings/").status_code == 404
    assert require_caps(client, acme, True).status_code == 404
    acme.refresh_from_db()
    assert not acme.require_key_cap


def test_the_api_refuses_a_new_key_without_a_cap(acme, alice, bob, api_as):
    Organization.objects.filter(pk=acme.pk).update(require_key_cap=True)
    acme.refresh_from_db()
    _, bobs_key = key_create(organization=acme, created_by=bob, name="bob's", monthly_spend_cap_usd="5")
    keys = ApiKey.objects.count()

    for body in ({"name": "uncapped"}, {"name": "uncapped", "monthly_spend_cap_usd": None}):
        response = api_as(bobs_key).post("/v1/keys", body, format="json")
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "invalid_request_error",
            "spend_cap_required",
            "monthly_spend_cap_usd",
        )
        assert "Acme Inc requires a monthly spend cap on every key" in error["message"]
    assert ApiKey.objects.count() == keys

    response = api_as(bobs_key).post(
        "/v1/keys", {"name": "capped", "monthly_spend_cap_usd": "10"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["key"]["monthly_spend_cap_usd"] == "10.00"


def test_the_api_refuses_to_clear_a_cap_while_caps_are_required(acme, alice, api_as):
    Organization.objects.filter(pk=acme.pk).update(require_key_cap=True)
    acme.refresh_from_db()
    api_key, full_key = key_create(
        organization=acme, created_by=alice, name="alice's", monthly_spend_cap_usd="5"
    )

    response = api_as(full_key).post(f"/v1/keys/{api_key.id}/spend-cap", {"clear": True}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "spend_cap_required"
    api_key.refresh_from_db()
    assert api_key.monthly_spend_cap_usd == Decimal("5.00")


def test_the_keys_page_asks_for_a_cap_and_refuses_a_key_without_one(acme, bob):
    Organization.objects.filter(pk=acme.pk).update(require_key_cap=True)
    client = signed_in_to(bob, acme)
    page = client.get("/keys/").content.decode()
    assert "Required in this organization." in page

    response = client.post("/keys/", {"name": "uncapped", "monthly_spend_cap_usd": ""})

    assert response.status_code == 400
    assert "requires a monthly spend cap on every key" in response.content.decode()
    assert not ApiKey.objects.filter(name="uncapped").exists()
    assert client.post("/keys/", {"name": "capped", "monthly_spend_cap_usd": "10"}).status_code == 200
    assert ApiKey.objects.get(name="capped").monthly_spend_cap_usd == Decimal("10.00")


def test_keys_without_a_cap_from_before_keep_working_and_can_be_edited(acme, alice, api_as):
    api_key, full_key = key_create(organization=acme, created_by=alice, name="older")
    Organization.objects.filter(pk=acme.pk).update(require_key_cap=True)

    assert api_as(full_key).get("/v1/auth/me").status_code == 200
    response = api_as(full_key).patch(f"/v1/keys/{api_key.id}", {"name": "older, renamed"}, format="json")
    assert response.status_code == 200
    api_key.refresh_from_db()
    assert (api_key.name, api_key.monthly_spend_cap_usd) == ("older, renamed", None)
