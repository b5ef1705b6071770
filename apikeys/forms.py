from django import forms
from django.utils.translation import gettext_lazy as _

from .services import NAME_MAX_LENGTH


class KeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=NAME_MAX_LENGTH,
        help_text=_("To tell your keys apart, e.g. prod-2026."),
    )
