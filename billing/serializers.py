from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import format_usd, format_usd_exact
from core.serializer_fields import PassThroughField, StrictCharField


@extend_schema_field({"type": "string", "example": "0.000150"})
class ExactMoneyField(serializers.Field):
    """An amount as a decimal string with 2 to 6 decimals (core.money.format_usd_exact)."""

    def to_representation(self, value):
        return format_usd_exact(value)


@extend_schema_field({"type": "string", "example": "12.34"})
class CentsField(serializers.Field):
    def to_representation(self, value):
        return format_usd(value)


class RatesSerializer(serializers.Serializer):
    input_per_million_usd = ExactMoneyField()
    output_per_million_usd = ExactMoneyField()


class PlanSerializer(serializers.Serializer):
    plan_id = serializers.CharField(source="id")
    name = serializers.CharField()
    monthly_fee_usd = CentsField()
    rates = serializers.SerializerMethodField()
    passthrough_markup_pct = serializers.SerializerMethodField()
    byok_fee_pct = serializers.SerializerMethodField()

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

    def get_passthrough_markup_pct(self, plan) -> str:
        return f"{plan.passthrough_markup_pct.normalize():f}"

    def get_byok_fee_pct(self, plan) -> str:
        return f"{plan.byok_fee_pct.normalize():f}"


class TransactionSerializer(serializers.Serializer):
    txn_id = serializers.CharField(source="id")
    kind = serializers.CharField(
        help_text="top_up, usage, plan_fee, plan_credit (the unused days of a plan fee, credited when the "
        "plan changes), refund (a Stripe refund of a top-up) or adjustment (by Nexevo staff)"
    )
    amount_usd = ExactMoneyField()
    reference = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class PlanChangeSerializer(serializers.Serializer):
    plan_id = StrictCharField(max_length=32)


class CheckoutSerializer(serializers.Serializer):
    amount_usd = PassThroughField(help_text='A decimal string such as "20.00", or a number.')
    idempotency_key = PassThroughField(help_text="The same key and amount answer with the same session.")


class BalanceSerializer(serializers.Serializer):
    org_id = serializers.CharField()
    balance_usd = serializers.CharField(help_text="2 decimals")
    currency = serializers.CharField()


class UsageTotalsSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost_usd = serializers.CharField(help_text="2 to 6 decimals")


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
    estimated_monthly_savings_usd = serializers.CharField()
    based_on_days = serializers.IntegerField()


class UpgradeHintSerializer(serializers.Serializer):
    hint = HintSerializer(allow_null=True)


class CheckoutSessionSerializer(serializers.Serializer):
    checkout_url = serializers.URLField()
    session_id = serializers.CharField()
    amount_usd = serializers.CharField()


class WebhookReceivedSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    result = serializers.CharField()
