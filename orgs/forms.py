from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Role
from .services import NAME_MAX_LENGTH


class OrganizationNameForm(forms.Form):
    name = forms.CharField(label=_("Organization name"), max_length=NAME_MAX_LENGTH)


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, allowed_roles, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(role, Role(role).label) for role in allowed_roles]
        if Role.DEVELOPER in allowed_roles:
            self.fields["role"].initial = Role.DEVELOPER


class TransferOwnershipForm(forms.Form):
    new_owner = forms.ChoiceField(label=_("New owner"))
    password = forms.CharField(
        label=_("Your password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_owner"].choices = [
            (member.user_id, f"{member.user.get_full_name()} ({member.user.email})") for member in members
        ]
