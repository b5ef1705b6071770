import time_machine
from django.test import Client
from django.utils import timezone

from tests.accounts.helpers import enable_two_factor, totp_code
from tests.conftest import PASSWORD


def log_in(client, user, password=PASSWORD):
    return client.post("/accounts/login/", {"login": user.email, "password": password})


def test_it_logs_in_without_two_factor(client, alice):
    response = log_in(client, alice)
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_it_refuses_a_wrong_password(client, alice):
    response = log_in(client, alice, password="not the password")
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert client.get("/dashboard/").status_code == 302


def test_it_limits_failed_logins_per_address(client, alice):
    for _ in range(5):
        log_in(client, alice, password="wrong password")
    response = log_in(client, alice)  # the right password, but too late
    assert "Too many failed login attempts" in response.content.decode()
    assert client.get("/dashboard/").status_code == 302


def test_it_keeps_a_two_factor_user_on_the_code_form(client, alice):
    enable_two_factor(alice)
    log_in(client, alice)
    for path in ["/dashboard/", "/keys/", "/settings/profile/", "/settings/privacy/export.json"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/2fa/verify/?next="), path
    # The API does not take the half-signed-in session either.
    assert client.get("/v1/auth/me").status_code == 401


def test_it_lets_the_user_in_with_a_code(client, alice):
    device, _codes = enable_two_factor(alice)
    log_in(client, alice)
    response = client.post(
        "/accounts/2fa/verify/", {"code": totp_code(device, steps_ahead=1), "next": "/keys/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/keys/"
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/v1/auth/me").json()["user_id"] == alice.id


def test_it_refuses_a_wrong_code(client, alice):
    enable_two_factor(alice)
    log_in(client, alice)
    response = client.post("/accounts/2fa/verify/", {"code": "12345"})
    assert response.status_code == 400
    assert "not correct" in response.content.decode()
    assert client.get("/dashboard/").status_code == 302


def test_it_refuses_a_code_used_before(alice):
    device, _codes = enable_two_factor(alice)
    first, second = Client(), Client()
    code = totp_code(device, steps_ahead=1)
    log_in(first, alice)
    log_in(second, alice)
    assert first.post("/accounts/2fa/verify/", {"code": code}).status_code == 302
    response = second.post("/accounts/2fa/verify/", {"code": code})
    assert response.status_code == 400
    assert "used already" in response.content.decode()


def test_it_accepts_each_recovery_code_once(alice):
    _device, codes = enable_two_factor(alice)
    assert len(codes) == 10 and len(set(codes)) == 10
    first, second = Client(), Client()
    log_in(first, alice)
    log_in(second, alice)
    assert first.post("/accounts/2fa/verify/", {"code": codes[0].upper()}).status_code == 302
    assert second.post("/accounts/2fa/verify/", {"code": codes[0]}).status_code == 400
    assert second.get("/dashboard/").status_code == 302


def test_it_limits_code_attempts(client, alice):
    device, _codes = enable_two_factor(alice)
    log_in(client, alice)
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        for _ in range(5):
            client.post("/accounts/2fa/verify/", {"code": "000001"})
            traveller.shift(40)  # past django-otp's own doubling per-device delay (1, 2, 4, 8, 16 s)
        response = client.post("/accounts/2fa/verify/", {"code": totp_code(device)})
    assert response.status_code == 400
    assert "Too many attempts" in response.content.decode()
    assert client.get("/dashboard/").status_code == 302


def test_it_regenerates_recovery_codes_with_a_current_code(client, alice):
    device, old_codes = enable_two_factor(alice)
    log_in(client, alice)
    client.post("/accounts/2fa/verify/", {"code": old_codes[0]})
    response = client.post(
        "/settings/security/two-factor/recovery-codes/", {"code": totp_code(device, steps_ahead=1)}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    new_codes = response.context["codes"]
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)

    again = Client()
    log_in(again, alice)
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        assert again.post("/accounts/2fa/verify/", {"code": old_codes[1]}).status_code == 400
        traveller.shift(2)  # the recovery codes' device waits a second after a wrong one
        assert again.post("/accounts/2fa/verify/", {"code": new_codes[0]}).status_code == 302


def test_it_turns_two_factor_off_only_with_a_current_code(client, alice):
    device, codes = enable_two_factor(alice)
    log_in(client, alice)
    client.post("/accounts/2fa/verify/", {"code": codes[0]})

    client.post("/settings/security/two-factor/disable/", {"code": "999999"})
    alice.refresh_from_db()
    assert alice.two_factor_enabled

    client.post("/settings/security/two-factor/disable/", {"code": codes[1]})
    alice.refresh_from_db()
    assert not alice.two_factor_enabled
    fresh = Client()
    log_in(fresh, alice)
    assert fresh.get("/dashboard/").status_code == 200


def test_it_sets_up_two_factor_from_the_page(client, alice):
    log_in(client, alice)
    page = client.get("/settings/security/two-factor/setup/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body and "otpauth" not in body  # the QR code is drawn, not linked
    secret = page.context["secret"]
    assert secret in body

    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    setup = "/settings/security/two-factor/setup/"
    wrong_password = client.post(setup, {"password": "not mine", "code": totp_code(device)})
    assert "password is not correct" in wrong_password.content.decode()
    assert client.post(setup, {"password": PASSWORD, "code": "000000"}).status_code == 400
    alice.refresh_from_db()
    assert not alice.two_factor_enabled

    with time_machine.travel(timezone.now(), tick=True) as traveller:
        traveller.shift(3)  # django-otp's one-second delay after the failure above
        response = client.post(setup, {"password": PASSWORD, "code": totp_code(device)})
    assert response.status_code == 200
    assert len(response.context["codes"]) == 10
    alice.refresh_from_db()
    assert alice.two_factor_enabled
    # The session that set it up counts as verified: no second prompt right away.
    assert client.get("/dashboard/").status_code == 200


def test_admin_needs_staff_and_a_verified_second_factor(client, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    log_in(client, alice)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"].startswith("/settings/security/two-factor/setup/")

    device, codes = enable_two_factor(alice)
    other = Client()
    log_in(other, alice)
    assert other.get("/admin/").status_code == 302
    other.post("/accounts/2fa/verify/", {"code": codes[0]})
    assert other.get("/admin/").status_code == 200


def test_admin_is_closed_to_non_staff(client, bob):
    log_in(client, bob)
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/dashboard/"
    assert "for Nexevo staff" in response.content.decode()


def test_a_wrong_code_holds_the_device_back_and_the_wait_doubles(client, alice):
    device, _codes = enable_two_factor(alice)
    log_in(client, alice)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client.post("/accounts/2fa/verify/", {"code": "000001"})
        device.refresh_from_db()
        assert device.throttling_failure_count == 1
        # The right code at once is refused: django-otp's per-device throttle (1 s, then 2 s, ...).
        right = totp_code(device, steps_ahead=1)
        assert client.post("/accounts/2fa/verify/", {"code": right}).status_code == 400
        device.refresh_from_db()
        assert device.throttling_failure_count == 1  # a throttled attempt is not counted again
        traveller.shift(1.5)
        assert client.post("/accounts/2fa/verify/", {"code": right}).status_code == 302
