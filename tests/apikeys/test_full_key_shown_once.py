"""The full key is in the create response and nowhere else: no other response, no log line, no table."""

import logging

from django.apps import apps
from django.test import Client

from apikeys.models import ApiKey
from tests.accounts.helpers import enable_two_factor
from tests.admin_urls import admin_url
from tests.conftest import PASSWORD


def test_the_full_key_leaves_no_trace(alice, alice_key, api_as, caplog):
    caplog.set_level(logging.DEBUG)
    alice.is_staff = alice.is_superuser = True
    alice.save()
    _device, codes = enable_two_factor(alice)
    api = api_as(alice_key[1])

    # As the Python client sends it: with an Idempotency-Key, whose stored answer must not keep the key.
    created = api.post("/v1/keys", {"name": "secret-keeper"}, format="json", HTTP_IDEMPOTENCY_KEY="create-1")
    full_key = created.json()["full_key"]
    key_id = created.json()["key"]["key_id"]
    assert full_key in created.content.decode()

    browser = Client()
    browser.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    browser.post("/accounts/2fa/verify/", {"code": codes[0]})
    with_new_key = api_as(full_key)
    replay = api.post("/v1/keys", {"name": "secret-keeper"}, format="json", HTTP_IDEMPOTENCY_KEY="create-1")
    assert replay.json()["key"]["key_id"] == key_id and replay.json()["full_key"] is None
    responses = [
        api.get("/v1/keys"),
        api.get(f"/v1/keys/{key_id}"),
        with_new_key.get("/v1/auth/me"),
        with_new_key.patch(f"/v1/keys/{key_id}", {"name": "renamed"}, format="json"),
        api.get("/v1/organizations"),
        browser.get("/dashboard/"),
        browser.get("/keys/"),
        browser.get(f"/keys/{key_id}/"),
        browser.get("/settings/privacy/export.json"),
        browser.get(f"/organizations/{alice_key[0].organization_id}/activity/"),
        browser.get("/admin/apikeys/apikey/"),
        browser.get(admin_url(ApiKey.objects.get(pk=key_id))),
        browser.get("/admin/orgs/auditevent/"),
    ]
    for response in responses:
        assert response.status_code == 200, response.wsgi_request.path
        assert full_key not in response.content.decode(), response.wsgi_request.path
        assert full_key not in str(response.headers)

    assert full_key not in caplog.text
    for model in apps.get_models():
        for row in model._default_manager.values():
            assert full_key not in repr(row), model._meta.label
