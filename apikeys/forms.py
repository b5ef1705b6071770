import datetime

from django import forms
from django.core.validators import MaxValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import CENTS, MoneyError, format_usd, parse_usd

from .models import RoutingPolicy
from .services import LIMIT_FIELDS, MAX_ALERT_THRESHOLDS, MAX_SPEND_CAP, NAME_MAX_LENGTH, RATE_LIMIT_FIELDS

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
        # xgettext:no-python-format
        label=_("Alert thresholds (% of the cap)"),
        initial="80, 100",
        max_length=64,
        required=False,
        help_text=_("Whole percentages, like 80, 100."),
    )
    routing_policy = forms.ChoiceField(
        label=_("Routing"), choices=RoutingPolicy.choices, initial=RoutingPolicy.ANY, required=False
    )
    requests_per_minute = forms.IntegerField(
        label=_("Requests per minute"),
        required=False,
        min_value=1,
        help_text=_("Empty for your plan's limit per key."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    tokens_per_minute = forms.IntegerField(
        label=_("Tokens per minute"),
        required=False,
        min_value=1,
        help_text=_("Prompt and completion tokens together. Empty for your plan's limit per key."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    expires_on = forms.DateField(
        label=_("Expires after"),
        required=False,
        help_text=_("Optional. The key stops working at the end of this day (UTC)."),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter a day as YYYY-MM-DD, like 2026-12-31.")},
    )

    def __init__(self, *args, plan_limits: dict[str, int], **kwargs):
        """``plan_limits``: the plan's requests and tokens per minute per key (selectors.plan_rate_limits),
        shown where a key's own are empty and the most they may be."""
        super().__init__(*args, **kwargs)
        self.plan_limits = plan_limits
        for name in RATE_LIMIT_FIELDS:
            field = self.fields[name]
            ceiling = plan_limits[name]
            field.max_value = ceiling
            field.validators.append(MaxValueValidator(ceiling))
            field.widget.attrs.update(min=1, max=ceiling, placeholder=f"{ceiling}")
            message = _(
                "Enter a whole number from 1 to %(max)d (your plan's limit per key), or leave it empty for "
                "the plan's."
            ) % {"max": ceiling}
            field.error_messages.update(invalid=message, min_value=message, max_value=message)

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
            "requests_per_minute": data["requests_per_minute"],
            "tokens_per_minute": data["tokens_per_minute"],
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
            "requests_per_minute": api_key.requests_per_minute,
            "tokens_per_minute": api_key.tokens_per_minute,
            "expires_on": expires_on,
            "limits_locked": api_key.limits_locked,
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

    def __init__(self, *args, require_cap: bool = False, **kwargs):
        """``require_cap``: the organization requires a monthly spend cap on every new key."""
        super().__init__(*args, **kwargs)
        if require_cap:
            cap = self.fields["monthly_spend_cap_usd"]
            cap.required = True
            cap.help_text = _(
                "Required in this organization. Requests past it are refused until the 1st (UTC)."
            )
            cap.error_messages["required"] = _(
                "This organization requires a monthly spend cap on every key: enter one, like 100."
            )


class KeySettingsForm(KeyCreateForm):
    """A key's settings on its page. Owners and admins also get the lock on its limits; a developer
    sees locked limits read-only (and the service refuses a change to them all the same)."""

    limits_locked = forms.BooleanField(
        label=_("Lock the spend cap and rate limits"),
        required=False,
        help_text=_(
            "Locked limits only owners and admins can change. Limits an owner or admin changes lock by "
            "themselves; untick this to let the key's developer change them."
        ),
    )

    def __init__(self, *args, api_key, can_lock: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_lock:
            del self.fields["limits_locked"]
            if api_key.limits_locked:
                for name in LIMIT_FIELDS:
                    self.fields[name].widget.attrs["readonly"] = True
                    self.fields[name].help_text = _("Locked: only an owner or admin can change it.")

    def service_arguments(self) -> dict:
        arguments = super().service_arguments()
        # The lock goes to the service only when it was ticked or unticked here: otherwise the
        # service's own rule applies (limits an owner or admin changes lock by themselves).
        if "limits_locked" in self.fields and "limits_locked" in self.changed_data:
            arguments["limits_locked"] = self.cleaned_data["limits_locked"]
        return arguments
