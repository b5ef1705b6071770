import re
import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from tests.conftest import PASSWORD


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app would show now, or ``steps_ahead`` time steps later."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enable_two_factor(user) -> tuple[TOTPDevice, list[str]]:
    """Turns two-factor on for ``user`` as the set-up page would; returns the device and codes."""
    device = services.two_factor_setup_begin(user=user)
    codes = services.two_factor_setup_confirm(user=user, password=PASSWORD, code=totp_code(device))
    device.refresh_from_db()
    user.refresh_from_db()
    return device, codes


def link_in(message, path_prefix: str) -> str:
    match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}[^\s]*)", message.body)
    assert match, f"no {path_prefix} link in: {message.body}"
    return match.group(1)
