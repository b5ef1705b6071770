from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apikeys import tokens
from apikeys.models import ApiKey
from apikeys.services import key_revoke

INVALID = {
    "error": {
        "type": "authentication_error",
        "code": "invalid_api_key",
        "message": "Invalid API key.",
        "param": None,
    }
}


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer nx_short",
        "Bearer " + "nx_" + "a" * 38,  # right shape, wrong checksum
        "Bearer two words",
        "Bearer nx_ünïcödé",
    ],
)
def test_it_refuses_a_malformed_key_without_a_query(api, db, header, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = api.get("/v1/auth/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json() == INVALID


def test_it_refuses_an_unknown_key_the_same_way(api_as, db):
    response = api_as(tokens.generate()).get("/v1/auth/me")
    assert response.status_code == 401
    assert response.json() == INVALID


def test_it_refuses_a_revoked_key_on_its_very_next_request(api_as, alice_key):
    api_key, full_key = alice_key
    client = api_as(full_key)
    assert client.get("/v1/auth/me").status_code == 200
    key_revoke(api_key=api_key, actor=api_key.created_by)
    response = client.get("/v1/auth/me")
    assert response.status_code == 401
    assert response.json() == INVALID


def test_it_stores_only_a_hash(alice_key):
    api_key, full_key = alice_key
    stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert full_key not in str(stored)
    assert stored["key_hash"] == tokens.hash_key(full_key)


def test_it_records_last_use_at_most_once_a_minute(api_as, alice_key):
    api_key, full_key = alice_key
    client = api_as(full_key)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get("/v1/auth/me")
    api_key.refresh_from_db()
    assert api_key.last_used_at == start

    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        client.get("/v1/auth/me")
    api_key.refresh_from_db()
    assert api_key.last_used_at == start

    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get("/v1/auth/me")
    api_key.refresh_from_db()
    assert api_key.last_used_at == start + timedelta(seconds=61)


def test_authentication_is_one_query_then_served_from_the_cache(alice_key, django_assert_num_queries):
    from django.core.cache import cache

    from apikeys.services import key_authenticate

    api_key, full_key = alice_key
    key_authenticate(full_key)  # records last_used_at for this minute
    cache.delete(f"apikey:{api_key.key_hash}")
    with django_assert_num_queries(1):
        assert key_authenticate(full_key).pk == api_key.pk
    with django_assert_num_queries(0):
        assert key_authenticate(full_key).member_role == "owner"


def test_changes_made_outside_the_services_reach_cached_keys_too(api_as, alice, alice_key):
    from orgs.models import Membership

    api_key, full_key = alice_key
    client = api_as(full_key)
    assert client.get("/v1/auth/me").status_code == 200  # cached now
    alice.is_active = False
    alice.save()  # as Django admin would
    assert client.get("/v1/auth/me").status_code == 401
    alice.is_active = True
    alice.save()
    assert client.get("/v1/auth/me").status_code == 200
    Membership.objects.get(user=alice).delete()
    assert client.get("/v1/auth/me").status_code == 401


def test_a_request_that_read_the_key_before_its_revocation_cannot_cache_it_afterwards(alice_key):
    from django.db.models import OuterRef, Subquery

    from apikeys import auth_cache
    from apikeys.services import InvalidApiKey, key_authenticate
    from orgs.models import Membership

    api_key, full_key = alice_key
    role = Membership.objects.filter(organization=OuterRef("organization"), user=OuterRef("created_by"))
    as_read_by_a_slow_request = (
        ApiKey.objects.select_related("created_by", "organization")
        .annotate(member_role=Subquery(role.values("role")[:1]))
        .get(pk=api_key.pk)
    )
    key_revoke(api_key=api_key, actor=api_key.created_by)
    auth_cache.remember(as_read_by_a_slow_request)  # ...which finishes after the revocation
    with pytest.raises(InvalidApiKey):
        key_authenticate(full_key)


def test_the_cache_holds_no_secret(alice_key, dns):
    from django.core.cache import cache

    from apikeys.services import key_authenticate, key_update_alert_webhook

    dns["hooks.example.com"] = ["93.184.216.34"]
    api_key, full_key = alice_key
    key_update_alert_webhook(api_key=api_key, url="https://hooks.example.com/a", actor=api_key.created_by)
    cache.clear()
    key_authenticate(full_key)
    entry = cache.get(f"apikey:{api_key.key_hash}")
    assert "password" not in entry.created_by.__dict__ and "webhook_secret" not in entry.__dict__
    # Reading one loads it from the database, so code that needs it still works.
    from_cache = key_authenticate(full_key)
    assert from_cache.created_by.check_password("correct horse battery 42")
    assert from_cache.webhook_secret.startswith("whsec_")
