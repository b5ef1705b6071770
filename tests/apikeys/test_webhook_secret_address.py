"""The revealed webhook signing secret is a page only a POST shows. Reloading it, going back to it or
opening its address leads to the key's page, without showing or changing the secret."""

from django.test import Client

from apikeys.models import ApiKey
from tests.conftest import new_key


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def key_with_webhook(user):
    api_key, _full = new_key(user, name="prod")
    ApiKey.objects.filter(pk=api_key.pk).update(
        alert_webhook_url="https://hooks.example.com/x", webhook_secret="whsec_dGhlIHNlY3JldCBpdHNlbGY="
    )
    return ApiKey.objects.get(pk=api_key.pk)


def test_it_leads_a_get_to_the_key_page(alice):
    api_key = key_with_webhook(alice)
    client = signed_in(alice)
    assert (
        api_key.webhook_secret
        in client.post(f"/keys/{api_key.id}/webhook-secret/", {"action": "reveal"}).content.decode()
    )

    response = client.get(f"/keys/{api_key.id}/webhook-secret/")

    assert response.status_code == 302
    assert response["Location"] == f"/keys/{api_key.id}/"
    page = client.get(response["Location"]).content.decode()
    assert api_key.webhook_secret not in page and 'data-testid="reveal-secret"' in page
    assert ApiKey.objects.get(pk=api_key.pk).webhook_secret == api_key.webhook_secret


def test_a_get_with_rotate_in_the_address_rotates_nothing(alice):
    api_key = key_with_webhook(alice)

    response = signed_in(alice).get(f"/keys/{api_key.id}/webhook-secret/", {"action": "rotate"})

    assert response.status_code == 302
    assert ApiKey.objects.get(pk=api_key.pk).webhook_secret == api_key.webhook_secret


def test_other_methods_are_still_not_allowed(alice):
    api_key = key_with_webhook(alice)

    response = signed_in(alice).put(f"/keys/{api_key.id}/webhook-secret/")

    assert response.status_code == 405 and response["Allow"] == "POST"


def test_an_anonymous_visitor_is_sent_to_sign_in(alice):
    api_key = key_with_webhook(alice)

    response = Client().get(f"/keys/{api_key.id}/webhook-secret/")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_outsider_gets_404_and_changes_nothing(alice, charlie):
    api_key = key_with_webhook(alice)
    before = ApiKey.objects.filter(pk=api_key.pk).values().get()
    client = signed_in(charlie)

    assert client.get(f"/keys/{api_key.id}/webhook-secret/").status_code == 404
    assert client.get("/keys/key_000000000000000000000000/webhook-secret/").status_code == 404
    assert ApiKey.objects.filter(pk=api_key.pk).values().get() == before
