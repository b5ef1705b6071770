"""Account services: profile, password, two-factor, deactivation and erasure."""

import io
import math
import re

import qrcode
import qrcode.image.svg
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apikeys.services import keys_revoke_created_by
from core.email import send_templated_after_commit
from core.errors import RateLimited, ServiceError
from core.languages import language_for_recipient
from core.ratelimit import attempt_allowed, attempts_reset
from orgs.models import AuditEvent, Invitation, Membership, Organization, Role

from .forms import FULL_NAME_MAX_LENGTH
from .models import User
from .selectors import accounts_due_for_erasure, organizations_blocking_deactivation

TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
TOTP_DIGITS = 6  # django-otp's default, which every device here uses
# Re-entering the password to confirm something (deactivation, ownership transfer): attempts per user
# per window, so a borrowed session cannot be used to guess the password.
PASSWORD_CONFIRM_ATTEMPTS = 5
PASSWORD_CONFIRM_WINDOW_SECONDS = 300


def _too_many_attempts(wait_seconds: float, *, param: str | None = None) -> RateLimited:
    """A refusal that says how long to wait: in seconds under a minute, in whole minutes above."""
    seconds = max(1, math.ceil(wait_seconds))
    if seconds < 60:
        message = ngettext(
            "Too many attempts. Try again in %(count)d second.",
            "Too many attempts. Try again in %(count)d seconds.",
            seconds,
        ) % {"count": seconds}
    else:
        minutes = math.ceil(seconds / 60)
        message = ngettext(
            "Too many attempts. Try again in %(count)d minute.",
            "Too many attempts. Try again in %(count)d minutes.",
            minutes,
        ) % {"count": minutes}
    error = RateLimited(message, retry_after=seconds)
    error.param = param
    return error


def _count_user_attempt(scope: str, user: User, *, limit: int, window_seconds: int, param: str) -> None:
    """Counts one attempt in ``core.ratelimit``'s fixed window; past ``limit``, refuses with the time
    the window has left. The counter does not tell when its window ends, so the end is kept beside it
    (written once, when the window opens, and expiring with it)."""
    now = timezone.now().timestamp()
    window_end_key = f"ratelimit-window-end:{scope}:{user.pk}"
    cache.add(window_end_key, now + window_seconds, timeout=window_seconds)
    if attempt_allowed(scope, user.pk, limit=limit, window_seconds=window_seconds):
        return
    window_end = cache.get(window_end_key)
    wait = window_end - now if window_end and window_end > now else window_seconds
    raise _too_many_attempts(wait, param=param)


def _reset_user_attempts(scope: str, user: User) -> None:
    attempts_reset(scope, user.pk)
    cache.delete(f"ratelimit-window-end:{scope}:{user.pk}")


# --- Profile and password -------------------------------------------------------------------------


def profile_update(*, user: User, full_name) -> User:
    if not isinstance(full_name, str):
        raise ServiceError(_("full_name must be a string."), code="invalid_full_name", param="full_name")
    full_name = full_name.strip()
    if len(full_name) > FULL_NAME_MAX_LENGTH:
        raise ServiceError(
            _("A full name has at most %(max)d characters.") % {"max": FULL_NAME_MAX_LENGTH},
            code="invalid_full_name",
            param="full_name",
        )
    user.full_name = full_name
    user.save(update_fields=["full_name"])
    return user


def user_language_set(*, user: User, language: str) -> User:
    """Saves the language of the user's pages and e-mails; an empty string goes back to the
    browser's choice."""
    if language and language not in dict(settings.LANGUAGES):
        raise ServiceError(_("Choose a language from the list."), code="invalid_language", param="language")
    user.language = language
    user.save(update_fields=["language"])
    return user


def password_change(*, user: User, current_password: str, new_password: str) -> User:
    """Changes the password. Every session signed in with the old one ends (Django's session hash)."""
    if not user.check_password(current_password or ""):
        raise ServiceError(
            _("The current password is not correct."),
            code="invalid_current_password",
            param="current_password",
        )
    try:
        validate_password(new_password, user=user)
    except ValidationError as error:
        raise ServiceError(" ".join(error.messages), code="weak_password", param="new_password") from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    return user


def password_confirm(*, user: User, password: str, param: str = "password") -> None:
    """Checks a re-entered password, counting attempts per user."""
    _count_user_attempt(
        "password-confirm",
        user,
        limit=PASSWORD_CONFIRM_ATTEMPTS,
        window_seconds=PASSWORD_CONFIRM_WINDOW_SECONDS,
        param=param,
    )
    if not user.check_password(password or ""):
        raise ServiceError(_("The password is not correct."), code="invalid_password", param=param)


# --- Two-factor -----------------------------------------------------------------------------------
#
# django-otp records a failed code on the device (its throttle) in the database. A failure must
# therefore be raised only after the transaction that checked the code has committed, or the
# rollback would erase the record of the failure. A refusal raised before any code is checked
# (the device is still held back, or the user is out of attempts) writes nothing, and may be raised
# inside it.


def _normalise_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def _count_attempt(user: User) -> None:
    _count_user_attempt(
        "otp",
        user,
        limit=settings.NEXEVO_OTP_ATTEMPTS_PER_WINDOW,
        window_seconds=settings.NEXEVO_OTP_WINDOW_SECONDS,
        param="code",
    )


def _refuse_while_held_back(devices) -> None:
    """django-otp holds a device back for 1, 2, 4… seconds after each wrong code, and its
    ``verify_token`` then refuses even the right code, as if it were wrong. Say how long to wait
    instead, when every device that could check this code is held back."""
    if not devices:
        return
    locked_until = []
    for device in devices:
        allowed, details = device.verify_is_allowed()
        if allowed:
            return
        locked_until.append((details or {}).get("locked_until"))
    if None in locked_until:  # held back for a reason that names no end
        raise _too_many_attempts(settings.NEXEVO_OTP_WINDOW_SECONDS, param="code")
    raise _too_many_attempts((min(locked_until) - timezone.now()).total_seconds(), param="code")


def _invalid_code() -> ServiceError:
    return ServiceError(
        _("That code is not correct, or has been used already."), code="invalid_code", param="code"
    )


def two_factor_setup_begin(*, user: User) -> TOTPDevice:
    """An unconfirmed authenticator for the user to scan; a second call keeps the same secret."""
    if user.two_factor_enabled:
        raise ServiceError(_("Two-factor authentication is already on."), code="two_factor_enabled")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an SVG QR code, drawn on the server."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


def two_factor_setup_confirm(*, user: User, password: str, code: str) -> list[str]:
    """Confirms the authenticator with the password and a code from it; returns ten recovery codes."""
    password_confirm(user=user, password=password)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None or user.two_factor_enabled:
            raise ServiceError(_("Start the set-up again."), code="no_pending_device")
        _refuse_while_held_back([device])
        _count_attempt(user)
        confirmed = device.verify_token(_normalise_code(code))
        if confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            user.two_factor_enabled = True
            user.save(update_fields=["two_factor_enabled"])
            codes = _recovery_codes_replace(user)
    if not confirmed:
        raise ServiceError(
            _("That code is not correct. Check your device's clock and try again."),
            code="invalid_code",
            param="code",
        )
    _reset_user_attempts("otp", user)
    return codes


def _recovery_codes_replace(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.NEXEVO_RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def two_factor_check(*, user: User, code: str):
    """The confirmed device that accepts ``code`` (consuming it), or a ServiceError.

    TOTP codes are accepted once (django-otp remembers the last time step used) and recovery codes
    are deleted on use; the devices are locked for the check so that two concurrent requests cannot
    both spend one code. Attempts are limited per user and throttled per device; a code sent while
    its device is held back is refused with the wait, and not counted. Must not be called inside a
    transaction that its failure would roll back (see above).
    """
    code = _normalise_code(code)
    with transaction.atomic():
        devices = _devices_for_code(user, code)
        _refuse_while_held_back(devices)
        _count_attempt(user)
        device = next((device for device in devices if device.verify_token(code)), None) if code else None
    if device is None:
        raise _invalid_code()
    _reset_user_attempts("otp", user)
    return device


def _devices_for_code(user: User, code: str) -> list:
    """The user's confirmed devices that could accept ``code``, locked.

    Each device is offered only codes of its own shape (6 digits for the authenticator, 8 letters and
    digits for recovery codes), so a mistyped code of one kind does not throttle the other device.
    """
    looks_like_totp = code.isdigit() and len(code) == TOTP_DIGITS
    return [
        device
        for device in devices_for_user(user, confirmed=True, for_verify=True)
        if isinstance(device, TOTPDevice) == looks_like_totp
    ]


def recovery_codes_regenerate(*, user: User, code: str) -> list[str]:
    if not user.two_factor_enabled:
        raise ServiceError(_("Two-factor authentication is off."), code="two_factor_disabled")
    two_factor_check(user=user, code=code)
    with transaction.atomic():
        return _recovery_codes_replace(user)


def two_factor_disable(*, user: User, code: str) -> None:
    if not user.two_factor_enabled:
        raise ServiceError(_("Two-factor authentication is already off."), code="two_factor_disabled")
    two_factor_check(user=user, code=code)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        user.two_factor_enabled = False
        user.save(update_fields=["two_factor_enabled"])


# --- GDPR: deactivation, erasure ------------------------------------------------------------------


def _sole_owner_error(blocking) -> ServiceError:
    names = ", ".join(organization.name for organization in blocking)
    return ServiceError(
        _(
            "You are the only owner of %(names)s, which other people still belong to. Transfer "
            "ownership to another member, or remove the other members, and try again."
        )
        % {"names": names},
        code="sole_owner",
    )


def account_deactivate(*, user: User, password: str, code: str = "") -> None:
    """Closes the account at once; personal data is erased after the grace period.

    Sign-in fails from now on, every session ends (the password hash changes, and inactive users
    are anonymous to Django's backend), and every key the user created stops working.
    """
    password_confirm(user=user, password=password)
    blocking = list(organizations_blocking_deactivation(user=user))
    if blocking:
        raise _sole_owner_error(blocking)
    if user.two_factor_enabled:
        two_factor_check(user=user, code=code)
    with transaction.atomic():
        # Lock the organizations the user owns, as accepting an invitation does, so that no one
        # joins one of them between the check above and the deactivation.
        owned = Membership.objects.filter(user=user, role=Role.OWNER).values("organization_id")
        list(Organization.objects.select_for_update().filter(id__in=owned).order_by("id"))  # one lock order
        blocking = list(organizations_blocking_deactivation(user=user))
        if blocking:
            raise _sole_owner_error(blocking)
        user.is_active = False
        user.deactivated_at = timezone.now()
        user.set_unusable_password()
        user.save(update_fields=["is_active", "deactivated_at", "password"])
        keys_revoke_created_by(user=user)
        send_templated_after_commit(
            "accounts/email/deactivated",
            to=[user.email],
            language=language_for_recipient(user),
            context={
                "user": user,
                "grace_days": settings.NEXEVO_ERASURE_GRACE_DAYS,
                "site_url": settings.SITE_URL,
            },
        )


@transaction.atomic
def account_erase(*, user_id: str) -> bool:
    """Erases a deactivated account's personal data; billing records stay, pointing at no one.

    Returns False, changing nothing, if the account is no longer due (reactivated or erased).
    """
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None or user.is_active or user.deactivated_at is None or user.erased_at is not None:
        return False
    EmailAddress.objects.filter(user=user).delete()
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    erased_label = f"erased user {user.pk}"
    AuditEvent.objects.filter(target_type="user", target_id=user.pk).erase_personal_data(
        target_label=erased_label
    )
    Invitation.objects.filter(email__iexact=user.email).update(
        email=f"erased-{user.pk.lower()}@erased.invalid"
    )
    user.email = f"erased-{user.pk.lower()}@erased.invalid"
    user.full_name = ""
    user.email_verified = False
    user.two_factor_enabled = False
    user.last_login = None
    user.set_unusable_password()
    user.erased_at = timezone.now()
    user.save()
    return True


def accounts_erase_due() -> int:
    """Erases every account whose grace period has passed; safe to run twice or concurrently."""
    due = list(accounts_due_for_erasure().values_list("pk", flat=True))
    # account_erase re-reads each account under a lock and skips one that is no longer due.
    return sum(account_erase(user_id=user_id) for user_id in due)
