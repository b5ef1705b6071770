import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import CENTS, MoneyError, format_usd, parse_usd

from .models import RoutingPolicy
from .services import MAX_ALERT_THRESHOLDS, MAX_SPEND_CAP, NAME_MAX_LENGTH

# A service's refusal names the API's field; on these pages it belongs beside the form's own.
SERVICE_FIELDS = {"expires_at": "expires_on"}


MAX_EXPIRY_YEARS = 100  # further than that is "never", which an empty field already says


class KeySettingsFields(forms.Form):
    """The settings a key has, as the create form and the key page both ask for them.

    Each field is checked here with a message in the page's words, so that a mistake shows beside
    its field; the service checks again (and resolves the webhook's host), and what it refuses goes
    beside its field too (``core.web.form_error_from_service`` with ``SERVICE_FIELDS``)."""

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
        max_length=2000,
        help_text=_("https:// only. Called when the spend crosses a threshold."),
        widget=forms.URLInput(attrs={"placeholder": "https://your-app.com/billing-alert"}),
        error_messages={"max_length": _("Use an address of at most %(limit_value)d characters.")},
    )
    alert_thresholds_pct = forms.CharField(
        label=_("Alert thresholds (% of the cap)"),
        initial="80, 100",
        max_length=64,
        required=False,
        help_text=_("Whole percentages, like 80, 100."),
    )
    routing_policy = forms.ChoiceField(
        label=_("Routing"), choices=RoutingPolicy.choices, initial=RoutingPolicy.ANY, required=False
    )
    expires_on = forms.DateField(
        label=_("Expires after"),
        required=False,
        help_text=_("Optional. The key stops working at the end of this day (UTC)."),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter a day as YYYY-MM-DD, like 2026-12-31.")},
    )

    def clean_monthly_spend_cap_usd(self):
        raw = self.cleaned_data["monthly_spend_cap_usd"].strip()
        if not raw:
            return None
        # People type "$50" or "50 USD"; the amount is what counts.
        text = raw[:-3] if raw.lower().endswith("usd") else raw
        text = text.strip().removeprefix("$").strip()
        try:
            return parse_usd(text, places=CENTS, maximum=MAX_SPEND_CAP)
        except MoneyError as error:
            if error.code == "amount_too_large":
                message = _("The cap can be at most $%(max)s a month.") % {"max": format_usd(MAX_SPEND_CAP)}
            else:
                message = _(
                    "Enter an amount in dollars above zero with at most 2 decimals, like 100 or 25.50, "
                    "or leave it empty for no cap."
                )
            raise forms.ValidationError(message, code="invalid_spend_cap") from None

    def clean_alert_webhook_url(self):
        url = self.cleaned_data["alert_webhook_url"].strip()
        if url and not url.lower().startswith("https://"):
            raise forms.ValidationError(
                _("Use an https:// address, like https://your-app.com/billing-alert."), code="not_https"
            )
        return url

    def clean_alert_thresholds_pct(self):
        raw = self.cleaned_data["alert_thresholds_pct"]
        parts = [part.strip().removesuffix("%").strip() for part in raw.replace(";", ",").split(",")]
        parts = [part for part in parts if part]
        if not parts:
            return None
        message = _(
            "Enter 1 to %(max)d whole percentages from 1 to 100, separated by commas, like 80, 100."
        ) % {"max": MAX_ALERT_THRESHOLDS}
        try:
            thresholds = [int(part) for part in parts]
        except ValueError:
            raise forms.ValidationError(message, code="invalid_thresholds") from None
        if len(set(thresholds)) > MAX_ALERT_THRESHOLDS or not all(1 <= t <= 100 for t in thresholds):
            raise forms.ValidationError(message, code="invalid_thresholds")
        return sorted(set(thresholds))

    def clean_expires_on(self):
        expires_on = self.cleaned_data["expires_on"]
        today = timezone.now().astimezone(datetime.UTC).date()
        if expires_on is not None and expires_on < today:
            raise forms.ValidationError(
                _("Choose today or a later day: the key would already have expired."), code="past_expiry"
            )
        if expires_on is not None and expires_on > today + datetime.timedelta(
            days=365 * MAX_EXPIRY_YEARS + MAX_EXPIRY_YEARS // 4
        ):
            raise forms.ValidationError(
                _(
                    "Choose a day within the next %(years)d years, or leave it empty for a key that "
                    "does not expire."
                )
                % {"years": MAX_EXPIRY_YEARS},
                code="far_expiry",
            )
        return expires_on

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        expires_on = data.get("expires_on")
        return {
            "monthly_spend_cap_usd": data["monthly_spend_cap_usd"],
            "alert_webhook_url": data["alert_webhook_url"] or None,
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
        label=_("Name"),
        max_length=NAME_MAX_LENGTH,
        help_text=_("To tell your keys apart, e.g. prod-2026."),
        error_messages={
            "required": _("Give the key a name."),
            "max_length": _("Use at most %(limit_value)d characters (this name has %(show_value)d)."),
        },
    )
    field_order = ["name"]


class KeySettingsForm(KeyCreateForm):
    pass
