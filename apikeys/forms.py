import datetime

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import RoutingPolicy
from .services import NAME_MAX_LENGTH


class KeySettingsFields(forms.Form):
    """The settings a key has, as the create form and the key page both ask for them."""

    monthly_spend_cap_usd = forms.CharField(
        label=_("Monthly spend cap (USD)"),
        required=False,
        max_length=32,
        help_text=_("Empty for no cap. Requests past it are refused until the 1st (UTC)."),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "100.00"}),
    )
    alert_webhook_url = forms.CharField(
        label=_("Alert webhook"),
        required=False,
        max_length=4000,
        help_text=_("https:// only. Called when the spend crosses a threshold."),
        widget=forms.URLInput(attrs={"placeholder": "https://your-app.com/billing-alert"}),
    )
    alert_thresholds_pct = forms.CharField(
        label=_("Alert thresholds (% of the cap)"),
        initial="80, 100",
        max_length=64,
        required=False,
    )
    routing_policy = forms.ChoiceField(
        label=_("Routing"), choices=RoutingPolicy.choices, initial=RoutingPolicy.ANY, required=False
    )
    expires_on = forms.DateField(
        label=_("Expires after"),
        required=False,
        help_text=_("Optional. The key stops working at the end of this day (UTC)."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_alert_thresholds_pct(self):
        raw = self.cleaned_data["alert_thresholds_pct"]
        try:
            return [int(part) for part in raw.replace(";", ",").split(",") if part.strip()] or None
        except ValueError:
            raise forms.ValidationError(_("Whole percentages separated by commas, like 80, 100.")) from None

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        expires_on = data.get("expires_on")
        return {
            "monthly_spend_cap_usd": data["monthly_spend_cap_usd"].strip() or None,
            "alert_webhook_url": data["alert_webhook_url"].strip() or None,
            "alert_thresholds_pct": data["alert_thresholds_pct"] or [80, 100],
            "routing_policy": data["routing_policy"] or RoutingPolicy.ANY,
            "expires_at": (
                datetime.datetime.combine(
                    expires_on + datetime.timedelta(days=1), datetime.time(), tzinfo=datetime.UTC
                )
                if expires_on
                else None
            ),
        }

    @staticmethod
    def initial_for(api_key) -> dict:
        expires_on = None
        if api_key.expires_at:
            expires_on = (api_key.expires_at.astimezone(datetime.UTC) - datetime.timedelta(seconds=1)).date()
        return {
            "name": api_key.name,
            "monthly_spend_cap_usd": api_key.monthly_spend_cap_usd or "",
            "alert_webhook_url": api_key.alert_webhook_url,
            "alert_thresholds_pct": ", ".join(str(t) for t in api_key.alert_thresholds_pct),
            "routing_policy": api_key.routing_policy,
            "expires_on": expires_on,
        }


class KeyCreateForm(KeySettingsFields):
    name = forms.CharField(
        label=_("Name"), max_length=NAME_MAX_LENGTH, help_text=_("To tell your keys apart, e.g. prod-2026.")
    )
    field_order = ["name"]


class KeySettingsForm(KeyCreateForm):
    pass
