"""Provider keys (bring your own key): owners and admins add, test and remove the organization's own
key for a provider; members see the list; the key is stored encrypted and never shown again."""

import pytest
from django.db import connection
from django.test import Client

from gateway.models import OrganizationProviderKey, Provider
from orgs.models import AuditEvent
from tests.admin_urls import admin_url
from tests.orgs.helpers import acme_with

from .conftest import chat_request, hello
from .test_pages import signed_in, staff_client  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

WEST_KEY = "sk-west-organization-own-9f3a"
OTHER_WEST_KEY = "sk-west-replacement-key-77b1"


def add(client, provider="west", api_key=WEST_KEY, **extra):
    return client.post("/requests/provider-keys/", {"provider": provider, "api_key": api_key}, **extra)


def stored_column(provider_key) -> str:
    """The key's column as the database holds it, read past the model."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key_encrypted FROM gateway_organizationproviderkey WHERE id = %s", [provider_key.pk]
        )
        return cursor.fetchone()[0]


def audit_actions(organization) -> list[str]:
    return list(
        AuditEvent.objects.filter(organization=organization, action__startswith="provider_key.")
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )


@pytest.fixture
def acme(alice, bob, catalog):
    """Acme, owned by Alice, with Bob as a developer, and the test catalog's providers."""
    return acme_with(alice, developer=bob)


def test_an_owner_adds_a_key_that_is_stored_encrypted_and_shown_by_its_last_four(alice, acme):
    client = signed_in(alice, acme)

    response = add(client, follow=True)

    assert "Key for west saved." in response.content.decode()
    stored = OrganizationProviderKey.objects.get(organization=acme)
    assert (stored.provider_id, stored.last_four, stored.api_key) == ("west", "9f3a", WEST_KEY)
    column = stored_column(stored)
    assert column and WEST_KEY not in column and "organization-own" not in column
    page = client.get("/requests/provider-keys/").content.decode()
    assert 'data-provider="west"' in page and "…9f3a" in page
    assert WEST_KEY not in page
    assert audit_actions(acme) == ["provider_key.added"]
    event = AuditEvent.objects.get(organization=acme, action="provider_key.added")
    assert event.actor == alice and event.target_id == "west" and WEST_KEY not in str(event.metadata)


def test_adding_a_key_for_a_provider_that_has_one_replaces_it(alice, acme):
    client = signed_in(alice, acme)
    add(client)

    response = add(client, api_key=OTHER_WEST_KEY, follow=True)

    assert "Key for west replaced." in response.content.decode()
    stored = OrganizationProviderKey.objects.get(organization=acme)
    assert (stored.api_key, stored.last_four) == (OTHER_WEST_KEY, "77b1")
    assert audit_actions(acme) == ["provider_key.added", "provider_key.replaced"]


def test_the_stored_key_is_what_the_gateway_sends_for_that_providers_models(alice, catalog, upstream):
    from tests.billing.helpers import credit
    from tests.conftest import new_key

    api_key, full_key = new_key(alice)
    credit(api_key.organization, "1.00")
    add(signed_in(alice))

    response = chat_request(full_key, hello("west/chat-a"))

    assert response.status_code == 200 and response.json()["nexevo"]["tier"] == "byok"
    assert upstream.calls("ok")[-1]["authorization"] == f"Bearer {WEST_KEY}"


@pytest.mark.parametrize(
    "provider, api_key, field",
    [
        ("nobody", WEST_KEY, "provider"),
        ("west", "", "api_key"),
        ("west", "short", "api_key"),
        ("west", "sk-with a space", "api_key"),
        ("west", "sk-line\nbreak-123", "api_key"),
        ("west", "sk-" + "x" * 600, "api_key"),
    ],
)
def test_bad_input_is_a_form_error_and_stores_nothing(alice, acme, provider, api_key, field):
    response = add(signed_in(alice, acme), provider=provider, api_key=api_key)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not OrganizationProviderKey.objects.exists() and audit_actions(acme) == []


def test_a_disabled_provider_cannot_be_chosen(alice, acme):
    Provider.objects.filter(id="west").update(enabled=False)

    response = add(signed_in(alice, acme))

    assert "provider" in response.context["form"].errors
    assert not OrganizationProviderKey.objects.exists()


def test_test_reports_a_key_the_provider_accepts(alice, acme):
    client = signed_in(alice, acme)
    add(client)

    response = client.post("/requests/provider-keys/west/test/", follow=True)

    page = response.content.decode()
    assert "west accepted the key." in page and "message-success" in page
    assert WEST_KEY not in page


def test_test_reports_a_key_the_provider_refuses_without_showing_it(alice, acme):
    client = signed_in(alice, acme)
    add(client, provider="picky", api_key="sk-picky-not-valid-0001")

    page = client.post("/requests/provider-keys/picky/test/", follow=True).content.decode()

    assert "picky refused the key (HTTP 401)." in page and "message-error" in page
    assert "sk-picky-not-valid-0001" not in page


def test_test_reports_a_provider_it_cannot_reach(alice, acme):
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    Provider.objects.filter(id="east").update(base_url=f"http://127.0.0.1:{port}/v1")
    client = signed_in(alice, acme)
    add(client, provider="east", api_key="sk-east-own-key-1234")

    page = client.post("/requests/provider-keys/east/test/", follow=True).content.decode()

    assert "Could not reach east (ConnectError)." in page
    assert "sk-east-own-key-1234" not in page


def test_removing_asks_for_confirmation_then_deletes_and_records_it(alice, acme):
    client = signed_in(alice, acme)
    add(client)

    confirm = client.get("/requests/provider-keys/west/remove/")
    assert confirm.status_code == 200 and 'data-testid="confirm-remove"' in confirm.content.decode()
    assert OrganizationProviderKey.objects.filter(organization=acme).exists()

    response = client.post("/requests/provider-keys/west/remove/", follow=True)

    assert "Key for west removed." in response.content.decode()
    assert not OrganizationProviderKey.objects.filter(organization=acme).exists()
    assert audit_actions(acme) == ["provider_key.added", "provider_key.removed"]


def test_an_admin_manages_keys_too(alice, bob, catalog):
    acme = acme_with(alice, admin=bob)
    client = signed_in(bob, acme)

    add(client)
    assert client.post("/requests/provider-keys/west/test/").status_code == 302
    client.post("/requests/provider-keys/west/remove/")

    assert audit_actions(acme) == ["provider_key.added", "provider_key.removed"]


def test_a_developer_sees_the_keys_but_cannot_add_test_or_remove_them(alice, bob, acme):
    add(signed_in(alice, acme))
    client = signed_in(bob, acme)

    page = client.get("/requests/provider-keys/").content.decode()
    assert 'data-provider="west"' in page and "…9f3a" in page
    assert 'name="api_key"' not in page and "/requests/provider-keys/west/test/" not in page
    assert "Only owners and admins can add, test or remove provider keys." in page

    assert add(client, api_key=OTHER_WEST_KEY).status_code == 403
    assert client.post("/requests/provider-keys/west/test/").status_code == 403
    assert client.get("/requests/provider-keys/west/remove/").status_code == 403
    assert client.post("/requests/provider-keys/west/remove/").status_code == 403
    assert OrganizationProviderKey.objects.get(organization=acme).api_key == WEST_KEY
    assert audit_actions(acme) == ["provider_key.added"]


def test_charlie_cannot_see_test_or_remove_acmes_keys(alice, charlie, acme):
    add(signed_in(alice, acme))
    client = signed_in(charlie)

    assert "…9f3a" not in client.get("/requests/provider-keys/").content.decode()
    assert client.post("/requests/provider-keys/west/test/").status_code == 404
    assert client.get("/requests/provider-keys/west/remove/").status_code == 404
    assert client.post("/requests/provider-keys/west/remove/").status_code == 404
    assert OrganizationProviderKey.objects.filter(organization=acme).count() == 1
    assert audit_actions(acme) == ["provider_key.added"]


def test_anonymous_visitors_are_sent_to_sign_in(catalog):
    for method, path in [
        ("get", "/requests/provider-keys/"),
        ("post", "/requests/provider-keys/"),
        ("post", "/requests/provider-keys/west/test/"),
        ("get", "/requests/provider-keys/west/remove/"),
    ]:
        response = getattr(Client(), method)(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path
    assert not OrganizationProviderKey.objects.exists()


def test_staff_see_which_keys_exist_in_admin_but_never_the_key(staff_client, alice, acme):  # noqa: F811
    add(signed_in(alice, acme))
    stored = OrganizationProviderKey.objects.get()

    for path in [
        "/admin/gateway/organizationproviderkey/?q=Acme&provider__id__exact=west",
        admin_url(stored),
    ]:
        response = staff_client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        assert "9f3a" in body, path
        assert WEST_KEY not in body and stored.api_key_encrypted not in body, path
    assert staff_client.get("/admin/gateway/organizationproviderkey/add/").status_code == 403


def test_staff_deleting_a_key_in_admin_is_on_the_organizations_trail(staff_client, alice, charlie, acme):  # noqa: F811
    client = signed_in(alice, acme)
    add(client)
    add(client, provider="east", api_key="sk-east-own-key-1234")
    west, east = (OrganizationProviderKey.objects.get(provider_id=name) for name in ("west", "east"))

    staff_client.post(admin_url(west, "delete"), {"post": "yes"})
    staff_client.post(
        "/admin/gateway/organizationproviderkey/",
        {"action": "delete_selected", "_selected_action": [east.pk], "post": "yes"},
    )

    assert not OrganizationProviderKey.objects.exists()
    removed = AuditEvent.objects.filter(organization=acme, action="provider_key.removed_by_staff")
    assert sorted(removed.values_list("target_id", flat=True)) == ["east", "west"]
    assert {event.actor for event in removed} == {charlie}
