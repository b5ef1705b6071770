from datetime import timedelta

import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from tests.accounts.helpers import link_in

NEW_PASSWORD = "a brand new passphrase 7"


def request_reset(client, email):
    return client.post("/accounts/password/reset/", {"email": email})


def follow_reset_link(client, path, password=NEW_PASSWORD):
    """allauth redirects the emailed link to a keyless form address; post the new password there."""
    response = client.get(path)
    if response.status_code == 302:
        path = response["Location"]
        response = client.get(path)
    if "password1" not in response.content.decode():
        return response
    return client.post(path, {"password1": password, "password2": password})


def test_it_answers_the_same_for_known_and_unknown_addresses(
    client, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = request_reset(client, alice.email)
        unknown = request_reset(Client(), "nobody@example.com")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    # The owner of an unknown address hears that no account exists; no one learns it on the page.
    assert sorted(message.to[0] for message in mail.outbox) == [alice.email, "nobody@example.com"]


def test_it_resets_the_password_once_per_link(client, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request_reset(client, alice.email)
    path = link_in(mail.outbox[0], "/accounts/password/reset/key/")
    response = follow_reset_link(client, path)
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)

    again = follow_reset_link(Client(), path, password="yet another passphrase 8")
    assert "bad token" in again.content.decode().lower() or "invalid" in again.content.decode().lower()
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_it_refuses_an_expired_link(client, alice, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request_reset(client, alice.email)
    path = link_in(mail.outbox[0], "/accounts/password/reset/key/")
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)):
        response = follow_reset_link(Client(), path)
    assert response.status_code == 200
    alice.refresh_from_db()
    assert not alice.check_password(NEW_PASSWORD)


def test_it_refuses_a_weak_new_password(client, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request_reset(client, alice.email)
    path = link_in(mail.outbox[0], "/accounts/password/reset/key/")
    response = follow_reset_link(client, path, password="12345678")
    assert response.status_code == 200
    assert "too common" in response.content.decode() or "too short" in response.content.decode()
    alice.refresh_from_db()
    assert not alice.check_password("12345678")


def test_it_limits_reset_requests_per_address(client, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            request_reset(client, alice.email)
    assert len(mail.outbox) == 3
