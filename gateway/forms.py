import datetime

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from billing.models import Tier

from .models import RequestStatus
from .provider_keys import KEY_MAX_LENGTH

# The longest date range the Requests page filters on: about a quarter, far more than the log keeps
# (NEXEVO_REQUEST_LOG_RETENTION_DAYS, 30 by default), so it only stops a range typed by mistake.
MAX_RANGE_DAYS = 92


def _date_input(placeholder: str) -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date", "placeholder": placeholder}, format="%Y-%m-%d")


class RequestFilterForm(forms.Form):
    """The Requests page's filters, read from the query string. A value that does not fit is a form
    error on that field and the field is left out of the filter; the others still apply. Days are
    UTC days, both ends included."""

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

    date_from = forms.DateField(
        label=_("From (UTC)"),
        required=False,
        widget=_date_input("2026-01-01"),
        error_messages={"invalid": _("Enter a day as YYYY-MM-DD, like 2026-01-31.")},
    )
    date_to = forms.DateField(
        label=_("To (UTC)"),
        required=False,
        widget=_date_input("2026-01-31"),
        error_messages={"invalid": _("Enter a day as YYYY-MM-DD, like 2026-01-31.")},
    )

    def __init__(self, data=None, *, keys: list[tuple[str, str]]):
        super().__init__(data)
        self.fields["key"].choices = [("", _("Any key")), *keys]

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if end < start:
                self.add_error("date_to", _("Choose a day on or after the “From” day."))
            elif (end - start).days >= MAX_RANGE_DAYS:
                self.add_error(
                    "date_to",
                    _("Choose at most %(days)d days from the “From” day.") % {"days": MAX_RANGE_DAYS},
                )
        return data

    def filter(self, queryset: QuerySet) -> QuerySet:
        """``queryset`` narrowed by every field that validated and is not empty."""
        self.is_valid()
        values = {name: value for name, value in self.cleaned_data.items() if value}
        if "date_from" in values:
            queryset = queryset.filter(created_at__gte=_midnight(values["date_from"]))
        if "date_to" in values and values["date_to"] < datetime.date.max:
            queryset = queryset.filter(
                created_at__lt=_midnight(values["date_to"] + datetime.timedelta(days=1))
            )
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


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)


class ProviderKeyForm(forms.Form):
    """A provider key to store. The provider chosen is kept when the form comes back with an error;
    the key itself never is (it is a secret: it is not sent back to the browser)."""

    provider = forms.ChoiceField(
        label=_("Provider"),
        error_messages={
            "required": _("Choose a provider."),
            "invalid_choice": _("Choose one of the providers in the list."),
        },
    )
    api_key = forms.CharField(
        label=_("API key"),
        max_length=KEY_MAX_LENGTH,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "Stored encrypted. After saving, only its last four characters are shown. A provider that "
            "already has a key gets this one instead."
        ),
        error_messages={
            "required": _("Paste the key the provider gave you."),
            "max_length": _("A provider key has at most %(limit_value)d characters: paste the key alone."),
        },
    )

    def __init__(self, data=None, *, providers):
        super().__init__(data)
        self.fields["provider"].choices = [(provider.id, provider.name) for provider in providers]
