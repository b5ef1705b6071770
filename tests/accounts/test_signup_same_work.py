"""Signing up with an address that has an account costs what a new sign-up costs: the password is
hashed either way, one e-mail is queued after the commit either way, and the answer is the same, so
neither the answer nor its timing tells which addresses have accounts (issue 17, finding 7)."""

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail

from accounts.models import User
from tests.conftest import PASSWORD


class CountingHasher(MD5PasswordHasher):
    """The suite's fast hasher, counting how many passwords it hashes."""

    algorithm = "counting_md5"
    hashed = 0

    def encode(self, password, salt):
        CountingHasher.hashed += 1
        return super().encode(password, salt)


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = [
        "tests.accounts.test_signup_same_work.CountingHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",  # the personas' passwords
    ]
    CountingHasher.hashed = 0
    return CountingHasher


def sign_up(client, email, captured):
    """Signs up through the page; returns the answer, the passwords hashed, the e-mails sent within
    the request and those sent once its transaction committed (by the task queued after it)."""
    hashed_before, sent_before = CountingHasher.hashed, len(mail.outbox)
    with captured(execute=True):
        response = client.post(
            "/accounts/signup/",
            {"email": email, "full_name": "Dana Diaz", "password1": PASSWORD, "password2": PASSWORD},
        )
        sent_in_request = len(mail.outbox) - sent_before
    sent_after_commit = len(mail.outbox) - sent_before - sent_in_request
    return response, CountingHasher.hashed - hashed_before, sent_in_request, sent_after_commit


def test_it_hashes_the_password_and_queues_one_email_for_a_taken_address_as_for_a_new_one(
    client, alice, counting_hasher, django_capture_on_commit_callbacks
):
    new = sign_up(client, "dana@example.com", django_capture_on_commit_callbacks)
    taken = sign_up(client, alice.email, django_capture_on_commit_callbacks)

    new_response, *new_work = new
    taken_response, *taken_work = taken
    assert new_work == [1, 0, 1]  # one hash, no e-mail within the request, one after the commit
    assert taken_work == new_work
    assert (taken_response.status_code, taken_response["Location"]) == (
        new_response.status_code,
        new_response["Location"],
    )
    assert mail.outbox[-1].to == [alice.email]
    assert User.objects.filter(email=alice.email).count() == 1


def test_a_taken_address_keeps_its_password(
    client, alice, counting_hasher, django_capture_on_commit_callbacks
):
    sign_up(client, alice.email, django_capture_on_commit_callbacks)
    alice.refresh_from_db()
    assert alice.password.startswith("md5$") and alice.check_password(PASSWORD)
