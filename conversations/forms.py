from django import forms
from django.utils.translation import gettext_lazy as _

from .services import TITLE_MAX_LENGTH


class ConversationTitleForm(forms.Form):
    title = forms.CharField(
        label=_("Title"), max_length=TITLE_MAX_LENGTH, required=False, help_text=_("Empty for no title.")
    )
