from django import forms
from django.utils.translation import gettext_lazy as _

from core.money import CENTS, MoneyError, parse_usd

from .services import TOP_UP_MAXIMUM, TOP_UP_MINIMUM


class TopUpForm(forms.Form):
    amount_usd = forms.CharField(
        label=_("Amount (USD)"),
        max_length=16,
        initial="20.00",
        help_text=_("From $%(min)s to $%(max)s.") % {"min": TOP_UP_MINIMUM, "max": f"{TOP_UP_MAXIMUM:,}"},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    # One per form shown: submitting twice (a double click, a reload) opens one Stripe session.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)


class PlanForm(forms.Form):
    """The plan to change to, on the Billing page; it leads to the confirmation page (a GET)."""

    plan_id = forms.ChoiceField(
        label=_("Change to"), error_messages={"invalid_choice": _("Choose one of the plans listed.")}
    )

    def __init__(self, *args, plans, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan_id"].choices = [
            (plan.id, _("%(plan)s ($%(fee)s a month)") % {"plan": plan.name, "fee": plan.monthly_fee_usd})
            for plan in plans
        ]


class _QuotedAmountField(forms.Field):
    """An amount the confirmation page showed, sent back as it was shown (``"32.67"``): a ``Decimal``."""

    widget = forms.HiddenInput

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_usd(value, places=CENTS, allow_zero=True)
        except MoneyError:
            raise forms.ValidationError(_("Not an amount."), code="invalid") from None


class PlanChangeForm(forms.Form):
    """The confirmation of a plan change: the plans from and to, the organization and the amounts
    that were shown, so that what is charged is what was confirmed (services.plan_change compares
    them: a change made meanwhile in another tab makes the quote stale)."""

    from_plan_id = forms.CharField(widget=forms.HiddenInput, max_length=32)
    plan_id = forms.CharField(widget=forms.HiddenInput, max_length=32)
    organization_id = forms.CharField(widget=forms.HiddenInput, max_length=64)
    charge = _QuotedAmountField()
    credit = _QuotedAmountField()


class LowBalanceForm(forms.Form):
    low_balance_threshold_usd = forms.CharField(
        label=_("E-mail owners and admins when the balance falls under (USD)"),
        required=False,
        max_length=16,
        help_text=_("Leave it empty for no alert."),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
