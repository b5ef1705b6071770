"""A key's limits (its monthly spend cap and its rate limits): who set them and when, locked when an
owner or admin sets them, so that a developer cannot lift a cap an admin put on their key; the rate
limits' fields on the key forms; and the organization's "require a spend cap on every new key"."""

import datetime
import html
import re
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from apikeys.models import ApiKey
from apikeys.services import key_create, key_update
from core.errors import PermissionDenied, ServiceError
from orgs.models import AuditEvent
from tests.conftest import make_user, new_key
from tests.orgs.helpers import acme_with

from .test_key_forms import errors_of, field

PERSONAS = ("alice", "dana", "bob")  # owner, admin, developer of Acme
ROLE_OF = {"alice": "owner", "dana": "admin", "bob": "developer"}


@pytest.fixture
def dana(db):
    return make_user("dana@example.com", full_name="Dana Diaz")


@pytest.fixture
def acme(alice, bob, dana):
    """Acme: Alice owns it, Dana is an admin, Bob a developer; each has a key there to call the API
    with, and Bob has a second key, "bob's batch", whose limits the tests set."""
    organization = acme_with(alice, admin=dana, developer=bob)
    users = {"alice": alice, "dana": dana, "bob": bob}
    full_keys = {
        name: key_create(organization=organization, created_by=user, name=f"{name}'s")[1]
        for name, user in users.items()
    }
    batch, _ = key_create(organization=organization, created_by=bob, name="bob's batch")
    return {"organization": organization, "users": users, "full_keys": full_keys, "batch": batch}


def signed_in_to(user, organization) -> Client:
    client = Client()
    client.force_login(user)
    client.post("/organizations/switch/", {"organization_id": organization.id})
    return client


def settings_of(api_key: ApiKey, **changes) -> dict:
    """The key page's settings form as it comes filled in, with ``changes`` typed over it."""
    form = {
        "name": api_key.name,
        "monthly_spend_cap_usd": api_key.monthly_spend_cap_usd or "",
        "alert_webhook_url": api_key.alert_webhook_url,
        "alert_thresholds_pct": ", ".join(str(t) for t in api_key.alert_thresholds_pct),
        "routing_policy": api_key.routing_policy,
        "expires_on": "",
        "requests_per_minute": api_key.requests_per_minute or "",
        "tokens_per_minute": api_key.tokens_per_minute or "",
    }
    if api_key.limits_locked:
        form["limits_locked"] = "on"
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def set_cap_through_the_api(api_as, full_key, api_key, body):
    return api_as(full_key).post(f"/v1/keys/{api_key.id}/spend-cap", body, format="json")


def test_it_locks_a_cap_an_admin_sets_on_a_developers_key_and_records_who_and_when(acme, api_as, dana):
    batch = acme["batch"]
    moment = datetime.datetime(2026, 12, 4, 14, 2, tzinfo=datetime.UTC)
    with time_machine.travel(moment, tick=False):
        response = set_cap_through_the_api(
            api_as, acme["full_keys"]["dana"], batch, {"monthly_spend_cap_usd": "50"}
        )

    assert response.status_code == 200, response.content
    batch.refresh_from_db()
    assert batch.monthly_spend_cap_usd == Decimal("50.00")
    assert (batch.limits_locked, batch.limits_set_by, batch.limits_set_at) == (True, dana, moment)
    actions = list(AuditEvent.objects.filter(target_id=batch.id).values_list("action", flat=True))
    assert {"key.spend_cap_changed", "key.limits_locked"} <= set(actions)


def test_a_developer_cannot_clear_a_cap_an_admin_set_through_the_api(acme, api_as):
    batch = acme["batch"]
    set_cap_through_the_api(api_as, acme["full_keys"]["dana"], batch, {"monthly_spend_cap_usd": "50"})
    events = AuditEvent.objects.count()

    for body in ({"clear": True}, {"monthly_spend_cap_usd": "5000"}):
        response = set_cap_through_the_api(api_as, acme["full_keys"]["bob"], batch, body)

        assert response.status_code == 403
        error = response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "permission_error",
            "limits_locked",
            "monthly_spend_cap_usd",
        )
        assert "Dana Diaz" in error["message"] and "only an owner or admin" in error["message"]
    batch.refresh_from_db()
    assert batch.monthly_spend_cap_usd == Decimal("50.00") and batch.limits_locked
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("setter", PERSONAS)
@pytest.mark.parametrize("changer", PERSONAS)
def test_who_may_change_a_cap_depends_on_who_set_it(acme, api_as, setter, changer):
    """Limits set by an owner or admin are theirs alone; a developer's own stay open to all three."""
    batch = acme["batch"]
    assert (
        set_cap_through_the_api(
            api_as, acme["full_keys"][setter], batch, {"monthly_spend_cap_usd": "50"}
        ).status_code
        == 200
    )

    response = set_cap_through_the_api(api_as, acme["full_keys"][changer], batch, {"clear": True})

    allowed = ROLE_OF[changer] != "developer" or ROLE_OF[setter] == "developer"
    assert response.status_code == (200 if allowed else 403), response.content
    batch.refresh_from_db()
    assert batch.monthly_spend_cap_usd == (None if allowed else Decimal("50.00"))
    if allowed:
        assert batch.limits_set_by == acme["users"][changer]
        assert batch.limits_locked == (ROLE_OF[changer] != "developer")


def test_a_developer_changes_limits_that_no_owner_or_admin_set(acme, bob):
    batch = acme["batch"]
    client = signed_in_to(bob, acme["organization"])

    response = client.post(
        f"/keys/{batch.id}/", settings_of(batch, monthly_spend_cap_usd="20", requests_per_minute="30")
    )

    assert response.status_code == 302
    batch.refresh_from_db()
    assert (batch.monthly_spend_cap_usd, batch.requests_per_minute) == (Decimal("20.00"), 30)
    assert (batch.limits_set_by, batch.limits_locked) == (bob, False)
    assert client.post(f"/keys/{batch.id}/", settings_of(batch, monthly_spend_cap_usd="")).status_code == 302
    batch.refresh_from_db()
    assert batch.monthly_spend_cap_usd is None


@pytest.mark.parametrize(
    ("name", "typed"),
    [("monthly_spend_cap_usd", ""), ("requests_per_minute", "500"), ("tokens_per_minute", "900000")],
)
def test_a_developer_changing_locked_limits_on_the_page_gets_an_error_beside_the_field(
    acme, alice, bob, name, typed
):
    batch = acme["batch"]
    key_update(
        api_key=batch,
        actor=alice,
        monthly_spend_cap_usd=Decimal("50"),
        requests_per_minute=60,
        tokens_per_minute=100_000,
    )
    batch.refresh_from_db()
    client = signed_in_to(bob, acme["organization"])

    page = client.get(f"/keys/{batch.id}/").content.decode()
    assert "readonly" in field(page, name)
    assert 'name="limits_locked"' not in page  # the lock is for owners and admins
    response = client.post(f"/keys/{batch.id}/", settings_of(batch, **{name: typed}, name="renamed"))

    assert response.status_code == 403
    errors = errors_of(field(response.content.decode(), name))
    assert len(errors) == 1 and "Alice Archer locked" in errors[0]
    batch.refresh_from_db()
    assert (batch.name, batch.monthly_spend_cap_usd, batch.requests_per_minute, batch.tokens_per_minute) == (
        "bob's batch",
        Decimal("50.00"),
        60,
        100_000,
    )


def test_an_owner_locks_a_developers_limits_without_changing_them_and_unlocks_them(acme, alice, bob):
    batch = acme["batch"]
    key_update(api_key=batch, actor=bob, monthly_spend_cap_usd=Decimal("20"))
    batch.refresh_from_db()
    owner = signed_in_to(alice, acme["organization"])
    assert 'name="limits_locked"' in owner.get(f"/keys/{batch.id}/").content.decode()

    assert owner.post(f"/keys/{batch.id}/", settings_of(batch, limits_locked="on")).status_code == 302
    batch.refresh_from_db()
    assert (batch.limits_locked, batch.limits_set_by, batch.monthly_spend_cap_usd) == (
        True,
        alice,
        Decimal("20.00"),
    )
    developer = signed_in_to(bob, acme["organization"])
    assert (
        developer.post(f"/keys/{batch.id}/", settings_of(batch, monthly_spend_cap_usd="")).status_code == 403
    )

    assert owner.post(f"/keys/{batch.id}/", settings_of(batch, limits_locked=None)).status_code == 302
    batch.refresh_from_db()
    assert not batch.limits_locked
    assert (
        developer.post(f"/keys/{batch.id}/", settings_of(batch, monthly_spend_cap_usd="")).status_code == 302
    )
    batch.refresh_from_db()
    assert batch.monthly_spend_cap_usd is None
    assert AuditEvent.objects.filter(target_id=batch.id, action="key.limits_unlocked", actor=alice).exists()


def test_limits_an_owner_changes_on_the_page_lock_by_themselves(acme, alice):
    batch = acme["batch"]
    owner = signed_in_to(alice, acme["organization"])

    assert owner.post(f"/keys/{batch.id}/", settings_of(batch, tokens_per_minute="5000")).status_code == 302

    batch.refresh_from_db()
    assert (batch.tokens_per_minute, batch.limits_locked, batch.limits_set_by) == (5000, True, alice)


def test_a_developer_cannot_lock_limits(acme, bob):
    batch = acme["batch"]
    client = signed_in_to(bob, acme["organization"])
    assert client.post(f"/keys/{batch.id}/", settings_of(batch, limits_locked="on")).status_code == 302
    batch.refresh_from_db()
    assert not batch.limits_locked  # no such field for a developer: nothing to send

    with pytest.raises(PermissionDenied) as refused:
        key_update(api_key=batch, actor=bob, limits_locked=True)
    assert refused.value.code == "limits_locked"
    with pytest.raises(PermissionDenied):
        key_create(organization=acme["organization"], created_by=bob, name="x", limits_locked=True)
    batch.refresh_from_db()
    assert not batch.limits_locked


def test_keys_created_with_limits_are_locked_only_when_an_owner_or_admin_creates_them(acme, alice, bob, dana):
    organization = acme["organization"]
    for user, locked in ((alice, True), (dana, True), (bob, False)):
        api_key, _ = key_create(
            organization=organization, created_by=user, name="capped", monthly_spend_cap_usd="10"
        )
        assert (api_key.limits_locked, api_key.limits_set_by) == (locked, user)
    uncapped, _ = key_create(organization=organization, created_by=alice, name="open")
    assert (uncapped.limits_locked, uncapped.limits_set_by, uncapped.limits_set_at) == (False, None, None)


def test_the_key_page_says_who_set_the_limits_and_when(acme, bob, dana):
    batch = acme["batch"]
    with time_machine.travel(datetime.datetime(2026, 12, 4, 14, 2, tzinfo=datetime.UTC), tick=False):
        key_update(api_key=batch, actor=dana, monthly_spend_cap_usd=Decimal("50"), requests_per_minute=60)

    page = signed_in_to(bob, acme["organization"]).get(f"/keys/{batch.id}/").content.decode()

    limits = re.search(r'data-testid="limits">(.*?)</section>', page, re.S).group(1)
    assert "Set by Dana Diaz on 2026-12-04 14:02 UTC." in limits
    assert 'data-testid="limits-locked"' in limits and "Only owners and admins can change them." in limits
    assert "60 requests and 1,000,000 tokens a minute" in " ".join(limits.split())


def test_the_key_page_says_when_no_one_set_the_limits(acme, bob):
    page = signed_in_to(bob, acme["organization"]).get(f"/keys/{acme['batch'].id}/").content.decode()
    assert "No one has set this key's limits" in page
    assert 'data-testid="limits-locked"' not in page


def test_the_key_forms_ask_for_rate_limits_with_the_plans_as_placeholder(alice):
    client = Client()
    client.force_login(alice)
    page = client.get("/keys/").content.decode()
    assert 'placeholder="600"' in field(page, "requests_per_minute")
    assert 'placeholder="1000000"' in field(page, "tokens_per_minute")

    response = client.post("/keys/", {"name": "slow", "requests_per_minute": "30", "tokens_per_minute": ""})

    assert response.status_code == 200
    api_key = ApiKey.objects.get(name="slow")
    assert (api_key.requests_per_minute, api_key.tokens_per_minute) == (30, None)
    detail = client.get(f"/keys/{api_key.id}/").content.decode()
    assert 'value="30"' in field(detail, "requests_per_minute")


@pytest.mark.parametrize("typed", ["601", "0", "-3", "1.5", "many"])
def test_the_key_forms_refuse_a_rate_limit_outside_the_plan_beside_the_field(alice, typed):
    client = Client()
    client.force_login(alice)

    response = client.post("/keys/", {"name": "fast", "requests_per_minute": typed})

    assert response.status_code == 400
    errors = errors_of(field(response.content.decode(), "requests_per_minute"))
    words = (
        "Enter a whole number from 1 to 600 (your plan's limit per key), or leave it empty for the plan's."
    )
    assert [html.unescape(error) for error in errors] == [words]
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("value", [601, 0, True, "60"])
def test_the_service_refuses_a_rate_limit_outside_the_plan(alice, value):
    api_key, _ = new_key(alice)
    with pytest.raises(ServiceError) as refused:
        key_update(api_key=api_key, actor=alice, requests_per_minute=value)
    assert (refused.value.code, refused.value.param, refused.value.status) == (
        "invalid_rate_limit",
        "requests_per_minute",
        400,
    )
    api_key.refresh_from_db()
    assert api_key.requests_per_minute is None


def test_charlie_can_neither_see_nor_change_another_organizations_key_limits(acme, charlie, api_as):
    batch = acme["batch"]
    key_update(api_key=batch, actor=acme["users"]["dana"], monthly_spend_cap_usd=Decimal("50"))
    batch.refresh_from_db()
    charlies_key = new_key(charlie)[1]
    before = (
        batch.monthly_spend_cap_usd,
        batch.limits_locked,
        batch.limits_set_by_id,
        AuditEvent.objects.count(),
    )
    client = Client()
    client.force_login(charlie)

    assert client.get(f"/keys/{batch.id}/").status_code == 404
    assert client.post(f"/keys/{batch.id}/", settings_of(batch, monthly_spend_cap_usd="")).status_code == 404
    response = set_cap_through_the_api(api_as, charlies_key, batch, {"clear": True})
    assert response.status_code == 404

    batch.refresh_from_db()
    after = (
        batch.monthly_spend_cap_usd,
        batch.limits_locked,
        batch.limits_set_by_id,
        AuditEvent.objects.count(),
    )
    assert after == before
