from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from billing.models import Tier

from .models import RequestStatus


class RequestFilterForm(forms.Form):
    """The Requests page's filters, read from the query string. A value that does not fit is a form
    error on that field and the field is left out of the filter; the others still apply."""

    key = forms.ChoiceField(label=_("Key"), required=False)
    model = forms.CharField(
        label=_("Model"),
        required=False,
        max_length=128,
        widget=forms.TextInput(attrs={"placeholder": "nexevo/balanced", "list": "known-models"}),
    )
    tier = forms.ChoiceField(label=_("Tier"), required=False, choices=[("", _("Any tier")), *Tier.choices])
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *RequestStatus.choices]
    )

    def __init__(self, data=None, *, keys: list[tuple[str, str]]):
        super().__init__(data)
        self.fields["key"].choices = [("", _("Any key")), *keys]

    def filter(self, queryset: QuerySet) -> QuerySet:
        """``queryset`` narrowed by every field that validated and is not empty."""
        self.is_valid()
        values = {name: value for name, value in self.cleaned_data.items() if value}
        if "key" in values:
            queryset = queryset.filter(api_key_id=values["key"])
        if "model" in values:
            queryset = queryset.filter(Q(requested_model=values["model"]) | Q(model=values["model"]))
        if "tier" in values:
            queryset = queryset.filter(tier=values["tier"])
        if "status" in values:
            queryset = queryset.filter(status=values["status"])
        return queryset

    @property
    def active(self) -> bool:
        return self.is_bound and any(self.cleaned_data.get(name) for name in self.fields)


class ProviderKeyForm(forms.Form):
    provider = forms.ChoiceField(label=_("Provider"))
    api_key = forms.CharField(
        label=_("API key"),
        max_length=4000,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Stored encrypted. After saving, only its last four characters are shown."),
    )

    def __init__(self, data=None, *, providers):
        super().__init__(data)
        self.fields["provider"].choices = [(provider.id, provider.name) for provider in providers]
