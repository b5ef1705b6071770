from django import forms
from django.utils.translation import gettext_lazy as _

from .services import TOP_UP_MAXIMUM, TOP_UP_MINIMUM


class TopUpForm(forms.Form):
    amount_usd = forms.CharField(
        label=_("Amount (USD)"),
        max_length=16,
        initial="20.00",
        help_text=_("From $%(min)s to $%(max)s.") % {"min": TOP_UP_MINIMUM, "max": TOP_UP_MAXIMUM},
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    # One per form shown: submitting twice (a double click, a reload) opens one Stripe session.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)


class PlanForm(forms.Form):
    plan_id = forms.ChoiceField(label=_("Plan"))

    def __init__(self, *args, plans, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan_id"].choices = [
            (plan.id, f"{plan.name} (${plan.monthly_fee_usd}/month)") for plan in plans
        ]


class LowBalanceForm(forms.Form):
    low_balance_threshold_usd = forms.CharField(
        label=_("E-mail owners and admins when the balance falls under (USD)"),
        required=False,
        max_length=16,
        help_text=_("Empty for no alert."),
    )
