from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Role
from .services import NAME_MAX_LENGTH


class OrganizationNameForm(forms.Form):
    name = forms.CharField(
        label=_("Organization name"),
        max_length=NAME_MAX_LENGTH,
        error_messages={
            "required": _("Give the organization a name."),
            "max_length": _(
                "An organization name has at most %(limit_value)d characters (this one has %(show_value)d)."
            ),
        },
    )


class KeyPolicyForm(forms.Form):
    require_key_cap = forms.BooleanField(
        label=_("Require a monthly spend cap on every new key"),
        required=False,
        help_text=_(
            "Keys created without a cap are refused, on these pages and through the API, and no key's cap "
            "can be removed while this is on. Keys that have no cap today keep working."
        ),
    )


class InviteForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address"),
        error_messages={
            "required": _("Enter the e-mail address of the person to invite."),
            "invalid": _("Enter a valid e-mail address, like name@example.com."),
        },
    )
    role = forms.ChoiceField(
        label=_("Role"), error_messages={"invalid_choice": _("Choose a role from the list.")}
    )

    def __init__(self, *args, allowed_roles, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(role, Role(role).label) for role in allowed_roles]
        if Role.DEVELOPER in allowed_roles:
            self.fields["role"].initial = Role.DEVELOPER


class TransferOwnershipForm(forms.Form):
    new_owner = forms.ChoiceField(
        label=_("New owner"),
        error_messages={
            "required": _("Choose the member who becomes the owner."),
            "invalid_choice": _("Choose the new owner from the members listed."),
        },
    )
    password = forms.CharField(
        label=_("Your password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": _("Enter your password to confirm.")},
    )

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_owner"].choices = [
            (member.user_id, f"{member.user.get_full_name()} ({member.user.email})") for member in members
        ]


class DeleteOrganizationForm(forms.Form):
    """Deleting asks for the organization's name, typed out, so that it is never a slip of the mouse."""

    confirm_name = forms.CharField(
        label=_("Organization name"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Type the organization's name to confirm.")},
    )

    def __init__(self, *args, organization_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization_name = organization_name

    def clean_confirm_name(self):
        typed = self.cleaned_data["confirm_name"].strip()
        if typed != self.organization_name:
            raise forms.ValidationError(
                _("Type the organization's name exactly as it is shown above."), code="name_mismatch"
            )
        return typed
