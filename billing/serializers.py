from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.idempotency import MAX_KEY_LENGTH
from core.money import format_usd, format_usd_exact
from core.schema import CENTS, CENTS_INPUT, EXACT
from core.serializer_fields import PassThroughField, StrictCharField

from .models import EntryKind

PERCENT = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$", "example": "5"}


@extend_schema_field(EXACT)
class ExactMoneyField(serializers.Field):
    """An amount as a decimal string with 2 to 6 decimals (core.money.format_usd_exact)."""

    def to_representation(self, value):
        return format_usd_exact(value)


@extend_schema_field(CENTS)
class CentsField(serializers.Field):
    def to_representation(self, value):
        return format_usd(value)


class RatesSerializer(serializers.Serializer):
    input_per_million_usd = ExactMoneyField()
    output_per_million_usd = ExactMoneyField()


class RatesByTierSerializer(serializers.Serializer):
    fast = RatesSerializer()
    balanced = RatesSerializer()


class PlanSerializer(serializers.Serializer):
    plan_id = serializers.CharField(source="id")
    name = serializers.CharField()
    monthly_fee_usd = CentsField()
    rates = serializers.SerializerMethodField()
    passthrough_markup_pct = serializers.SerializerMethodField()
    byok_fee_pct = serializers.SerializerMethodField()

    @extend_schema_field(RatesByTierSerializer)
    def get_rates(self, plan) -> dict:
        return {
            "fast": {
                "input_per_million_usd": format_usd_exact(plan.fast_input_per_million_usd),
                "output_per_million_usd": format_usd_exact(plan.fast_output_per_million_usd),
            },
            "balanced": {
                "input_per_million_usd": format_usd_exact(plan.balanced_input_per_million_usd),
                "output_per_million_usd": format_usd_exact(plan.balanced_output_per_million_usd),
            },
        }

    @extend_schema_field(PERCENT)
    def get_passthrough_markup_pct(self, plan) -> str:
        return f"{plan.passthrough_markup_pct.normalize():f}"

    @extend_schema_field(PERCENT)
    def get_byok_fee_pct(self, plan) -> str:
        return f"{plan.byok_fee_pct.normalize():f}"


class TransactionSerializer(serializers.Serializer):
    txn_id = serializers.CharField(source="id")
    kind = serializers.ChoiceField(
        choices=EntryKind.values,
        help_text="top_up, usage, plan_fee, plan_credit (the unused days of a plan fee, credited when the "
        "plan changes), refund (a Stripe refund of a top-up) or adjustment (by Nexevo staff)",
    )
    amount_usd = ExactMoneyField()
    reference = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class PlanChangeSerializer(serializers.Serializer):
    plan_id = StrictCharField(max_length=32)


class CheckoutSerializer(serializers.Serializer):
    amount_usd = PassThroughField(schema={**CENTS_INPUT, "description": "5.00 to 10000.00"})
    idempotency_key = PassThroughField(
        schema={"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
        help_text="The same key and amount answer with the same session; the same key and another "
        "amount is a 409.",
    )


class BalanceSerializer(serializers.Serializer):
    org_id = serializers.CharField()
    balance_usd = CentsField()
    currency = serializers.CharField()


class UsageTotalsSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost_usd = ExactMoneyField()


class UsageByTierSerializer(serializers.Serializer):
    fast = UsageTotalsSerializer()
    balanced = UsageTotalsSerializer()
    passthrough = UsageTotalsSerializer()
    byok = UsageTotalsSerializer()


class UsageDaySerializer(UsageTotalsSerializer):
    date = serializers.DateField()
    by_tier = UsageByTierSerializer()


class UsageTotalsWithTiersSerializer(UsageTotalsSerializer):
    by_tier = UsageByTierSerializer()


class UsageSerializer(serializers.Serializer):
    days = UsageDaySerializer(many=True)
    totals = UsageTotalsWithTiersSerializer()


class HintSerializer(serializers.Serializer):
    current_plan = serializers.CharField()
    recommend_plan = serializers.CharField()
    savings_pct = serializers.CharField(help_text='one decimal, e.g. "23.5"')
    estimated_monthly_savings_usd = CentsField()
    based_on_days = serializers.IntegerField()


class UpgradeHintSerializer(serializers.Serializer):
    hint = HintSerializer(allow_null=True)


class CheckoutSessionSerializer(serializers.Serializer):
    checkout_url = serializers.URLField()
    session_id = serializers.CharField()
    amount_usd = CentsField()


class WebhookReceivedSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    result = serializers.CharField()
