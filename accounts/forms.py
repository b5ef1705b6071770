from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils.translation import gettext_lazy as _

from core.languages import supported

FULL_NAME_MAX_LENGTH = 150

# Django's defaults ("This field is required.") say nothing about which field or what to do.
ENTER_PASSWORD = _("Enter your current password.")
ENTER_CODE = _("Enter a code from your authenticator app, or a recovery code.")


class SignupForm(AllauthSignupForm):
    """allauth's sign-up form (ACCOUNT_FORMS), with the full name, and as slow for an address that
    has an account as for a new one.

    With ACCOUNT_PREVENT_ENUMERATION allauth answers both alike: the same redirect, and an e-mail
    either way (a confirmation link, or "someone tried to sign up with your address"), both sent by
    a task after the commit. But only a new account's password was hashed, which is most of the
    work (PBKDF2), so a taken address answered several times faster and the timing told which
    addresses have accounts. The password is hashed, and the hash thrown away, for a taken one too.
    """

    full_name = forms.CharField(
        label=_("Full name"),
        max_length=FULL_NAME_MAX_LENGTH,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    field_order = ["email", "full_name", "password1", "password2"]

    def try_save(self, request):
        if self.account_already_exists and self.cleaned_data.get("password1"):
            make_password(self.cleaned_data["password1"])
        return super().try_save(request)

    def signup(self, request, user):
        user.full_name = self.cleaned_data.get("full_name", "").strip()
        # A visitor who chose a language before signing up keeps it: it is saved on the profile.
        user.language = supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)) or ""
        user.save(update_fields=["full_name", "language"])


class ProfileForm(forms.Form):
    full_name = forms.CharField(
        label=_("Full name"),
        max_length=FULL_NAME_MAX_LENGTH,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={
            "max_length": _(
                "A full name has at most %(limit_value)d characters (this one has %(show_value)d)."
            )
        },
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        help_text=_("The 6-digit code from your authenticator app, or a recovery code."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
        error_messages={"required": ENTER_CODE},
    )


class CurrentCodeForm(forms.Form):
    """A current code that confirms a change on the Security page, which has two of these forms: no
    autofocus, and ``auto_id`` tells their inputs apart."""

    code = forms.CharField(
        label=_("Current code"),
        max_length=32,
        help_text=_("From your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
        error_messages={"required": ENTER_CODE},
    )


class DeactivateForm(forms.Form):
    password = forms.CharField(
        label=_("Current password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": ENTER_PASSWORD},
    )
    code = forms.CharField(
        label=_("Two-factor code"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )
    confirm = forms.BooleanField(
        label=_("I understand that my account will be closed and my personal data erased."),
        error_messages={"required": _("Tick the box to confirm that you want to close your account.")},
    )

    def __init__(self, *args, code_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if code_required:
            self.fields["code"].required = True
            self.fields["code"].error_messages["required"] = ENTER_CODE


class TwoFactorSetupForm(forms.Form):
    """Turning two-factor on needs the password too, so a borrowed session cannot lock the owner out."""

    password = forms.CharField(
        label=_("Current password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": ENTER_PASSWORD},
    )
    code = forms.CharField(
        label=_("Code from the app"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        error_messages={"required": _("Enter the 6-digit code your authenticator app shows.")},
    )
