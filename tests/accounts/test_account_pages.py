"""Profile, the e-mail addresses page and deactivation: errors beside their fields, in words, the
input kept."""

import re

from django.test import Client

from tests.accounts.helpers import enable_two_factor
from tests.conftest import PASSWORD


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_keeps_an_over_long_name_beside_its_error(alice):
    typed = "Alice " + "x" * 150
    response = signed_in(alice).post("/settings/profile/", {"full_name": typed})
    assert response.status_code == 400
    assert response.context["form"].errors["full_name"] == [
        "A full name has at most 150 characters (this one has 156)."
    ]
    assert f'value="{typed}"' in response.content.decode()
    alice.refresh_from_db()
    assert alice.full_name == "Alice Archer"


def test_it_saves_the_profile(alice):
    response = signed_in(alice).post("/settings/profile/", {"full_name": "  Alice A. "})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.full_name == "Alice A."


def test_it_links_the_email_addresses_page_from_the_profile(alice):
    body = signed_in(alice).get("/settings/profile/").content.decode()
    assert 'href="/accounts/email/"' in body


def test_it_draws_the_email_addresses_page_as_the_console_does(alice):
    response = signed_in(alice).get("/accounts/email/")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<a class="back" href="/settings/profile/">' in body  # the way back to Profile
    assert re.search(r'<span class="badge ok">\s*Verified\s*</span>', body)
    assert 'class="card narrow"' in body
    assert re.search(r'<button class="danger"\s+name="action_remove"', body)
    assert re.search(r'<button class="secondary"\s+name="action_send"', body)


def test_it_shows_an_email_addresses_error_beside_the_field(alice):
    response = signed_in(alice).post("/accounts/email/", {"action_add": "", "email": "alice@example.com"})
    body = response.content.decode()
    error_at = body.index("is already associated with this account")
    assert body.rindex('name="email"', 0, error_at) > body.index("Add Email Address")
    assert 'value="alice@example.com"' in body[body.index("Add Email Address") :]


def test_it_shows_deactivation_errors_beside_their_fields(alice):
    response = signed_in(alice).post("/settings/privacy/deactivate/", {"password": ""})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["password"] == ["Enter your current password."]
    assert errors["confirm"] == ["Tick the box to confirm that you want to close your account."]
    alice.refresh_from_db()
    assert alice.is_active


def test_it_asks_for_the_code_before_deactivating_with_two_factor_on(alice):
    _device, codes = enable_two_factor(alice)
    client = Client()
    client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    client.post("/accounts/2fa/verify/", {"code": codes[0]})
    response = client.post(
        "/settings/privacy/deactivate/", {"password": PASSWORD, "code": "", "confirm": "on"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["code"] == [
        "Enter a code from your authenticator app, or a recovery code."
    ]
    assert re.search(r'<input[^>]*name="confirm"[^>]*checked', response.content.decode())  # still ticked
    alice.refresh_from_db()
    assert alice.is_active
