"""A code sent too soon is refused with the time to wait, not as a wrong code: on the sign-in code
step, on Security's forms and on the set-up page."""

import time_machine
from django.test import Client
from django.utils import timezone

from tests.accounts.helpers import enable_two_factor, totp_code
from tests.conftest import PASSWORD


def signed_in_with_two_factor(user):
    """A client past both steps, and the user's device (its recovery codes are spent on the way)."""
    device, codes = enable_two_factor(user)
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    client.post("/accounts/2fa/verify/", {"code": codes[0]})
    device.refresh_from_db()
    return client, device


def code_error(response, form="form") -> str:
    return " ".join(response.context[form].errors["code"])


def test_it_says_how_long_to_wait_when_the_right_code_follows_a_wrong_one_at_sign_in(client, alice):
    device, _codes = enable_two_factor(alice)
    client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client.post("/accounts/2fa/verify/", {"code": "000001"})
        right = totp_code(device, steps_ahead=1)
        response = client.post("/accounts/2fa/verify/", {"code": right})
        assert response.status_code == 400
        assert code_error(response) == "Too many attempts. Try again in 1 second."
        assert f'value="{right}"' in response.content.decode()  # the code typed is kept
        assert client.get("/dashboard/").status_code == 302

        traveller.shift(1.5)
        assert client.post("/accounts/2fa/verify/", {"code": right}).status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_it_says_the_wait_doubles_with_each_wrong_code(client, alice):
    device, _codes = enable_two_factor(alice)
    client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client.post("/accounts/2fa/verify/", {"code": "000001"})
        traveller.shift(1.5)
        client.post("/accounts/2fa/verify/", {"code": "000002"})
        traveller.shift(0.5)
        response = client.post("/accounts/2fa/verify/", {"code": totp_code(device, steps_ahead=1)})
    assert code_error(response) == "Too many attempts. Try again in 2 seconds."


def test_it_does_not_count_a_code_sent_while_held_back(client, alice, settings):
    # Five attempts per window: three wrong ones and two sent too soon leave the right one through.
    device, _codes = enable_two_factor(alice)
    client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for wrong in ["000001", "000002", "000003"]:
            client.post("/accounts/2fa/verify/", {"code": wrong})
            client.post("/accounts/2fa/verify/", {"code": "000004"})  # too soon
            traveller.shift(10)
        assert client.post("/accounts/2fa/verify/", {"code": totp_code(device)}).status_code == 302


def test_it_says_how_many_minutes_are_left_when_the_user_is_out_of_attempts(client, alice):
    device, _codes = enable_two_factor(alice)
    client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(5):  # NEXEVO_OTP_ATTEMPTS_PER_WINDOW, in a window of 300 s
            client.post("/accounts/2fa/verify/", {"code": "000001"})
            traveller.shift(40)  # past django-otp's own per-device delay
        response = client.post("/accounts/2fa/verify/", {"code": totp_code(device)})
    # The window opened 200 s ago: 100 s are left, said as 2 minutes (rounded up).
    assert response.status_code == 400
    assert code_error(response) == "Too many attempts. Try again in 2 minutes."


def test_it_shows_a_wrong_code_beside_the_field_on_security(alice):
    client, _device = signed_in_with_two_factor(alice)
    response = client.post("/settings/security/two-factor/disable/", {"code": "999999"})
    assert response.status_code == 400
    assert code_error(response, "disable_form") == "That code is not correct, or has been used already."
    assert not response.context["regenerate_form"].is_bound  # the other form is left alone
    body = response.content.decode()
    assert 'id="disable_code"' in body and 'id="regenerate_code"' in body
    assert 'value="999999"' in body
    alice.refresh_from_db()
    assert alice.two_factor_enabled


def test_it_says_how_long_to_wait_on_security(alice):
    client, device = signed_in_with_two_factor(alice)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client.post("/settings/security/two-factor/disable/", {"code": "999999"})
        right = totp_code(device, steps_ahead=1)
        response = client.post("/settings/security/two-factor/recovery-codes/", {"code": right})
        assert response.status_code == 400
        assert code_error(response, "regenerate_form") == "Too many attempts. Try again in 1 second."

        traveller.shift(1.5)
        response = client.post("/settings/security/two-factor/recovery-codes/", {"code": right})
    assert response.status_code == 200
    assert len(response.context["codes"]) == 10


def test_it_asks_for_the_code_in_words_when_it_is_left_empty_on_security(alice):
    client, _device = signed_in_with_two_factor(alice)
    response = client.post("/settings/security/two-factor/recovery-codes/", {"code": ""})
    assert response.status_code == 400
    assert code_error(response, "regenerate_form") == (
        "Enter a code from your authenticator app, or a recovery code."
    )


def test_it_says_how_long_to_wait_on_the_set_up_page(client, alice):
    client.force_login(alice)
    setup = "/settings/security/two-factor/setup/"
    client.get(setup)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        wrong = client.post(setup, {"password": PASSWORD, "code": "000000"})
        assert wrong.status_code == 400
        assert 'value="000000"' in wrong.content.decode()  # the code is kept, the password is not
        assert PASSWORD not in wrong.content.decode()
        response = client.post(setup, {"password": PASSWORD, "code": totp_code(device)})
        assert code_error(response) == "Too many attempts. Try again in 1 second."
        traveller.shift(1.5)
        response = client.post(setup, {"password": PASSWORD, "code": totp_code(device)})
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.two_factor_enabled
