"""The keys API: create, list, get, update, revoke, spend cap, routing policy, expiry."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.services import key_create
from orgs.models import AuditEvent
from tests.conftest import new_key
from tests.orgs.helpers import acme_with

KEY_FIELDS = {
    "key_id",
    "name",
    "display",
    "status",
    "created_at",
    "created_by",
    "last_used_at",
    "revoked_at",
    "expires_at",
    "monthly_spend_cap_usd",
    "month_to_date_spend_usd",
    "alert_webhook_url",
    "alert_thresholds_pct",
    "routing_policy",
}


@pytest.fixture
def acme(alice, bob, db):
    """Acme: Alice owns it, Bob is a developer; each has a key there."""
    organization = acme_with(alice, developer=bob)
    keys = {
        "alice": key_create(organization=organization, created_by=alice, name="alice's"),
        "bob": key_create(organization=organization, created_by=bob, name="bob's"),
    }
    return organization, keys


def test_create_returns_the_full_key_once_and_the_key_object(api_as, alice_key, alice):
    response = api_as(alice_key[1]).post("/v1/keys", {"name": "prod-2026"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"full_key", "key"}
    key = body["key"]
    assert set(key) == KEY_FIELDS
    assert key["key_id"].startswith("key_") and key["created_by"] == alice.id
    assert key["display"] == f"{body['full_key'][:7]}…{body['full_key'][-4:]}"
    assert (key["monthly_spend_cap_usd"], key["month_to_date_spend_usd"], key["routing_policy"]) == (
        None,
        "0.00",
        "any",
    )
    assert key["alert_thresholds_pct"] == [80, 100] and key["status"] == "active"


def test_create_with_every_setting(api_as, alice_key, dns):
    dns["hooks.example.com"] = ["93.184.216.34"]
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    response = api_as(alice_key[1]).post(
        "/v1/keys",
        {
            "name": "batch",
            "monthly_spend_cap_usd": "25.5",
            "alert_webhook_url": "https://hooks.example.com/a",
            "routing_policy": "cn-only",
            "alert_thresholds_pct": [50, 90, 100],
            "expires_at": expires,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["webhook_secret"].startswith("whsec_")
    key = body["key"]
    assert (key["monthly_spend_cap_usd"], key["routing_policy"], key["alert_thresholds_pct"]) == (
        "25.50",
        "cn-only",
        [50, 90, 100],
    )


@pytest.mark.parametrize("cap", ["abc", "-1", "0", "1.234", "NaN", "1e999", "Infinity", True, [], {}])
def test_spend_cap_refuses_what_is_not_a_positive_amount(api_as, alice_key, cap):
    api_key, full_key = alice_key
    response = api_as(full_key).post(
        f"/v1/keys/{api_key.id}/spend-cap", {"monthly_spend_cap_usd": cap}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "monthly_spend_cap_usd"
    assert ApiKey.objects.get(pk=api_key.pk).monthly_spend_cap_usd is None


@pytest.mark.parametrize("body", [{"monthly_spend_cap_usd": "10", "clear": True}, {}, {"clear": False}])
def test_spend_cap_wants_exactly_one_of_a_cap_or_clear(api_as, alice_key, body):
    api_key, full_key = alice_key
    response = api_as(full_key).post(f"/v1/keys/{api_key.id}/spend-cap", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_spend_cap_request"


@pytest.mark.parametrize(
    ("given", "stored"), [("100", "100.00"), ("0.01", "0.01"), (100, "100.00"), ("7.5", "7.50")]
)
def test_spend_cap_is_stored_exactly_and_cleared(api_as, alice_key, given, stored):
    api_key, full_key = alice_key
    client = api_as(full_key)
    url = f"/v1/keys/{api_key.id}/spend-cap"
    assert (
        client.post(url, {"monthly_spend_cap_usd": given}, format="json").json()["monthly_spend_cap_usd"]
        == stored
    )
    assert str(ApiKey.objects.get(pk=api_key.pk).monthly_spend_cap_usd) == stored
    assert client.post(url, {"clear": True}, format="json").json()["monthly_spend_cap_usd"] is None


@pytest.mark.parametrize("raw", [b"1e999", b"-1", b"0", b"1.234", b"NaN", b"Infinity"])
def test_spend_cap_refuses_bad_json_numbers(api_as, alice_key, raw):
    api_key, full_key = alice_key
    response = api_as(full_key).post(
        f"/v1/keys/{api_key.id}/spend-cap",
        b'{"monthly_spend_cap_usd": ' + raw + b"}",
        content_type="application/json",
    )
    assert response.status_code == 400
    assert ApiKey.objects.get(pk=api_key.pk).monthly_spend_cap_usd is None


def test_a_decimal_number_stays_exact(api_as, alice_key):
    api_key, full_key = alice_key
    response = api_as(full_key).post(
        f"/v1/keys/{api_key.id}/spend-cap", b'{"monthly_spend_cap_usd": 0.1}', content_type="application/json"
    )
    assert response.json()["monthly_spend_cap_usd"] == "0.10"


@pytest.mark.parametrize("policy", ["cn-only", "overseas-only", "any"])
def test_routing_policy_changes(api_as, alice_key, policy):
    api_key, full_key = alice_key
    response = api_as(full_key).post(
        f"/v1/keys/{api_key.id}/routing-policy", {"routing_policy": policy}, format="json"
    )
    assert response.json()["routing_policy"] == policy


@pytest.mark.parametrize("policy", ["eu-only", "", None, 1])
def test_routing_policy_refuses_unknown_values(api_as, alice_key, policy):
    api_key, full_key = alice_key
    response = api_as(full_key).post(
        f"/v1/keys/{api_key.id}/routing-policy", {"routing_policy": policy}, format="json"
    )
    assert response.status_code == 400
    assert ApiKey.objects.get(pk=api_key.pk).routing_policy == "any"


def test_rename_thresholds_and_expiry_in_one_patch(api_as, alice_key):
    api_key, full_key = alice_key
    expires = timezone.now() + timedelta(days=3)
    response = api_as(full_key).patch(
        f"/v1/keys/{api_key.id}",
        {"name": "renamed", "alert_thresholds_pct": [100, 50], "expires_at": expires.isoformat()},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["alert_thresholds_pct"]) == ("renamed", [50, 100])
    actions = set(AuditEvent.objects.filter(target_id=api_key.id).values_list("action", flat=True))
    assert {"key.renamed", "key.alert_thresholds_changed", "key.expiry_changed"} <= actions


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"alert_thresholds_pct": [0]},
        {"alert_thresholds_pct": [101]},
        {"alert_thresholds_pct": "80"},
        {"alert_thresholds_pct": [1, 2, 3, 4, 5, 6]},
        {"expires_at": "2001-01-01T00:00:00Z"},
        {"expires_at": "soon"},
    ],
)
def test_patch_refuses_bad_values_and_changes_nothing(api_as, alice_key, body):
    api_key, full_key = alice_key
    api_as(full_key).get("/v1/auth/me")  # records this minute's last use before the snapshot
    before = ApiKey.objects.filter(pk=api_key.pk).values().get()
    response = api_as(full_key).patch(f"/v1/keys/{api_key.id}", body, format="json")
    assert response.status_code == 400
    assert ApiKey.objects.filter(pk=api_key.pk).values().get() == before


def test_an_expired_key_is_refused_with_its_own_code(api_as, alice_key):
    api_key, full_key = alice_key
    api_as(full_key).patch(
        f"/v1/keys/{api_key.id}",
        {"expires_at": (timezone.now() + timedelta(hours=1)).isoformat()},
        format="json",
    )
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        response = api_as(full_key).get("/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "key_expired"


def test_a_revoked_key_is_refused_on_its_very_next_request(api_as, alice_key):
    api_key, full_key = alice_key
    client = api_as(full_key)
    revoked = client.post(f"/v1/keys/{api_key.id}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert client.get("/v1/auth/me").status_code == 401


def test_developers_see_their_own_keys_and_owners_all(api_as, acme):
    _organization, keys = acme
    bobs = api_as(keys["bob"][1]).get("/v1/keys").json()["data"]
    alices = api_as(keys["alice"][1]).get("/v1/keys").json()["data"]
    assert [k["name"] for k in bobs] == ["bob's"]
    assert sorted(k["name"] for k in alices) == ["alice's", "bob's"]


ENDPOINTS = [
    ("get", "/v1/keys/{id}", None),
    ("patch", "/v1/keys/{id}", {"name": "mine now"}),
    ("post", "/v1/keys/{id}/revoke", None),
    ("post", "/v1/keys/{id}/spend-cap", {"monthly_spend_cap_usd": "1"}),
    ("post", "/v1/keys/{id}/alert-webhook", {"url": None}),
    ("post", "/v1/keys/{id}/webhook-secret/rotate", None),
    ("post", "/v1/keys/{id}/routing-policy", {"routing_policy": "cn-only"}),
]
PAGES = [
    ("get", "/keys/{id}/"),
    ("post", "/keys/{id}/"),
    ("post", "/keys/{id}/webhook-secret/"),
    ("get", "/keys/{id}/revoke/"),
    ("post", "/keys/{id}/revoke/"),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_a_developer_gets_404_for_another_members_key(api_as, acme, method, path, body):
    _organization, keys = acme
    alices_key = keys["alice"][0]
    before = ApiKey.objects.filter(pk=alices_key.pk).values().get()
    response = getattr(api_as(keys["bob"][1]), method)(path.format(id=alices_key.id), body, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "key_not_found"
    assert ApiKey.objects.filter(pk=alices_key.pk).values().get() == before


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_an_outsider_gets_404_for_every_key_endpoint(api_as, acme, charlie, method, path, body):
    _organization, keys = acme
    target = keys["alice"][0]
    before = ApiKey.objects.filter(pk=target.pk).values().get()
    response = getattr(api_as(new_key(charlie)[1]), method)(path.format(id=target.id), body, format="json")
    unknown = getattr(api_as(new_key(charlie)[1]), method)(path.format(id="key_unknown"), body, format="json")
    assert (
        (response.status_code, response.json())
        == (unknown.status_code, unknown.json())
        == (404, unknown.json())
    )
    assert ApiKey.objects.filter(pk=target.pk).values().get() == before


@pytest.mark.parametrize(("method", "path"), PAGES)
@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_key_pages_answer_404_to_those_who_may_not_manage_the_key(acme, bob, charlie, who, method, path):
    organization, keys = acme
    target = keys["alice"][0]
    client = Client()
    client.force_login({"bob": bob, "charlie": charlie}[who])
    client.post("/organizations/switch/", {"organization_id": organization.id})
    before = ApiKey.objects.filter(pk=target.pk).values().get()
    response = getattr(client, method)(path.format(id=target.id), {"name": "taken", "action": "rotate"})
    assert response.status_code == 404
    assert ApiKey.objects.filter(pk=target.pk).values().get() == before


def test_the_key_page_saves_every_setting(alice, alice_key, dns):
    dns["hooks.example.com"] = ["93.184.216.34"]
    api_key, _ = alice_key
    client = Client()
    client.force_login(alice)
    response = client.post(
        f"/keys/{api_key.id}/",
        {
            "name": "renamed",
            "monthly_spend_cap_usd": "12.5",
            "alert_webhook_url": "https://hooks.example.com/x",
            "alert_thresholds_pct": "50, 100",
            "routing_policy": "overseas-only",
            "expires_on": "2099-12-31",
        },
    )
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert (api_key.name, str(api_key.monthly_spend_cap_usd), api_key.routing_policy) == (
        "renamed",
        "12.50",
        "overseas-only",
    )
    assert api_key.alert_thresholds_pct == [50, 100]
    assert api_key.expires_at.isoformat() == "2100-01-01T00:00:00+00:00"
    page = client.post(f"/keys/{api_key.id}/webhook-secret/", {"action": "reveal"})
    assert api_key.webhook_secret in page.content.decode() and "no-store" in page["Cache-Control"]


def test_the_key_page_shows_the_reason_for_a_refused_webhook(alice, alice_key):
    api_key, _ = alice_key
    client = Client()
    client.force_login(alice)
    response = client.post(
        f"/keys/{api_key.id}/",
        {
            "name": "k",
            "alert_webhook_url": "https://10.0.0.1/x",
            "routing_policy": "any",
            "alert_thresholds_pct": "80, 100",
        },
    )
    assert response.status_code == 400
    assert "a private address" in response.content.decode()
    api_key.refresh_from_db()
    assert api_key.alert_webhook_url == ""


def test_create_with_an_idempotency_key_creates_one_key(api_as, alice_key):
    client = api_as(alice_key[1])
    first = client.post("/v1/keys", {"name": "ci"}, format="json", HTTP_IDEMPOTENCY_KEY="create-ci-1")
    again = client.post("/v1/keys", {"name": "ci"}, format="json", HTTP_IDEMPOTENCY_KEY="create-ci-1")
    assert again.json()["key"] == first.json()["key"]
    assert again.json()["full_key"] is None  # shown once, even to a retry
    assert ApiKey.objects.filter(name="ci").count() == 1


def test_the_same_idempotency_key_in_another_organization_is_a_new_request(api_as, alice, alice_key):
    acme = acme_with(alice)
    _key, acme_full_key = key_create(organization=acme, created_by=alice, name="acme")
    personal = api_as(alice_key[1]).post("/v1/keys", {"name": "ci"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    in_acme = api_as(acme_full_key).post("/v1/keys", {"name": "ci"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert in_acme.json()["full_key"] and in_acme.json()["key"]["key_id"] != personal.json()["key"]["key_id"]
    assert ApiKey.objects.get(pk=in_acme.json()["key"]["key_id"]).organization == acme


@pytest.mark.parametrize("body", [{"name": "back"}, {"expires_at": None}])
def test_an_expired_key_stays_expired(api_as, alice_key, body):
    api_key, full_key = alice_key
    other = api_as(new_key(api_key.created_by)[1])
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = other.patch(f"/v1/keys/{api_key.id}", body, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "key_not_active"
    assert api_as(full_key).get("/v1/auth/me").json()["error"]["code"] == "key_expired"


def test_a_revoked_key_cannot_be_edited(api_as, alice_key):
    api_key, full_key = alice_key
    other = api_as(new_key(api_key.created_by)[1])
    other.post(f"/v1/keys/{api_key.id}/revoke")
    for path, body in [
        ("", {"name": "x"}),
        ("/spend-cap", {"monthly_spend_cap_usd": "5"}),
        ("/routing-policy", {"routing_policy": "cn-only"}),
    ]:
        method = other.patch if not path else other.post
        assert method(f"/v1/keys/{api_key.id}{path}", body, format="json").status_code == 409


@pytest.mark.parametrize(
    "path", ["/v1/keys/%00", "/v1/keys/key_x%00", "/v1/organizations/org_x%00/members", "/v1/keys/a%2Fb"]
)
def test_ids_with_odd_characters_are_a_json_404(api_as, alice_key, path):
    response = api_as(alice_key[1]).get(path)
    assert response.status_code == 404 and response.json()["error"]["type"] == "invalid_request_error"
