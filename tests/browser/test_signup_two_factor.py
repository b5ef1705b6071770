"""Sign-up → e-mail verification → two-factor set-up → log-out → log-in with a code → dashboard."""

import base64
import re
import time
from urllib.parse import urljoin

import pytest
from django.core import mail
from django_otp.oath import TOTP
from playwright.sync_api import expect

EMAIL = "dana@example.com"
PASSWORD = "correct horse battery 42"


def totp_code(secret: str, *, at: float | None = None) -> str:
    totp = TOTP(key=base64.b32decode(secret), step=30, digits=6)
    if at is not None:
        totp.time = at
    return f"{totp.token():06d}"


def path_re(path: str) -> re.Pattern:
    """Matches a page URL on the live server whose path is exactly ``path`` (any query string)."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


@pytest.mark.browser
def test_signup_verify_two_factor_logout_and_login_with_code(live_server, page):
    base = live_server.url

    # 1. Sign up.
    page.goto(f"{base}/accounts/signup/")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=full_name]", "Dana Diaz")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Sign Up", exact=True).click()

    # 2. "Verify your e-mail", then follow the link from the e-mail and confirm.
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    messages = [message for message in mail.outbox if EMAIL in message.to]
    assert messages, f"no e-mail was sent to {EMAIL}"
    match = re.search(r"\S*/accounts/confirm-email/[-:\w]+/", messages[-1].body)
    assert match, f"no confirmation link in the e-mail:\n{messages[-1].body}"
    page.goto(urljoin(base + "/", match.group(0)))
    page.get_by_role("button", name="Confirm", exact=True).click()

    # 3. Confirming signs the user in and lands on the personal workspace's dashboard.
    expect(page).to_have_url(path_re("/dashboard/"))
    expect(page.get_by_test_id("dashboard-heading")).to_have_text("Personal workspace")

    # 4. Set up two-factor: a server-drawn QR code, the secret, a code, ten recovery codes.
    page.goto(f"{base}/settings/security/")
    page.get_by_test_id("two-factor-setup-link").click()
    expect(page).to_have_url(path_re("/settings/security/two-factor/setup/"))
    expect(page.locator(".qr svg")).to_have_count(1)
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]+=*", secret), secret
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=code]", totp_code(secret))
    page.get_by_role("button", name="Turn on two-factor").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)

    # 5. Log out from the user menu.
    page.locator("details.usermenu > summary").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(path_re("/accounts/login/"))

    # 6. Log in with the password: the second step is required, and the dashboard is out of reach.
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(path_re("/accounts/2fa/verify/"))
    page.goto(f"{base}/dashboard/")
    expect(page).to_have_url(path_re("/accounts/2fa/verify/"))
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()

    # 7. A wrong code is refused with a form error, and the user stays on the verify page.
    now = time.time()
    valid = {totp_code(secret, at=now + drift) for drift in (-60, -30, 0, 30, 60, 90)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in valid)
    page.fill("input[name=code]", wrong)
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator(".errorlist")).to_contain_text("That code is not correct")
    expect(page).to_have_url(path_re("/accounts/2fa/verify/"))
    # django-otp throttles the devices for 1 s after a failure.
    page.wait_for_timeout(2100)

    # 8. The right code opens the dashboard. The set-up spent the current time step, and django-otp
    # accepts each step once, so use the next one (within its one-step tolerance).
    page.fill("input[name=code]", totp_code(secret, at=time.time() + 30))
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page).to_have_url(path_re("/dashboard/"))
    expect(page.get_by_test_id("dashboard-heading")).to_have_text("Personal workspace")
